//! Fixed names inside a runtime folder and archive (`docs/runtime-contract.md`, "Runtime layout").

use crate::{Channel, Sha256, Target, Variant, Version};

/// The embedded CPython tree.
pub const PYTHON_DIR: &str = "python";
/// The engine packages (the app descriptor's `engine.packages` and `engine.shared`).
pub const APP_DIR: &str = "app";
/// The built web UI.
pub const WEB_DIR: &str = "web";
/// The lock the runtime was installed from (and, opt-in, the wheels).
pub const WHEELHOUSE_DIR: &str = "wheelhouse";
/// One line: the runtime's semver.
pub const VERSION_FILE: &str = "VERSION";
/// Every file with its size and sha256, plus the launch contract.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The release's content-addressed object store, at the release URL: every runtime file (and
/// every `manifest.json`) of every app once, as the zstd frame of its bytes, named by their
/// sha256.
pub const OBJECTS_DIR: &str = "objects";

/// The release index's `objects` of an app published one folder below the release URL
/// (`<release URL>/<id>/`): the store at the release URL, shared with every other app.
pub const SHARED_OBJECTS_FROM_APP: &str = "../objects/";

/// The object of the file with `sha256` inside a store: `<first two hex digits>/<sha256>.zst`.
/// The two-digit fan-out keeps any folder of a plain file server or bucket listing to a few
/// hundred names.
pub fn object_name(sha256: &Sha256) -> String {
    let hex = sha256.to_hex();
    format!("{}/{hex}.zst", &hex[..2])
}

/// Where the object of the file with `sha256` lives, relative to the release URL (and to an
/// index that names no other store): `objects/<aa>/<sha256>.zst`.
pub fn object_path(sha256: &Sha256) -> String {
    format!("{OBJECTS_DIR}/{}", object_name(sha256))
}

/// The folder an app's release is published in, relative to the release URL: the release URL
/// itself for the workspace's default app (`""`), `<id>/` for every other app.
pub fn app_release_folder(id: &str, is_default: bool) -> String {
    if is_default {
        String::new()
    } else {
        format!("{id}/")
    }
}

/// The `.pth` line that points from site-packages to `runtime/app/`, relative so the runtime
/// stays relocatable. `site` joins relative `.pth` lines with the site-packages folder.
pub fn app_pth_line(target: Target) -> String {
    let depth = target.site_packages().split('/').count();
    let mut line = "../".repeat(depth);
    line.push_str(APP_DIR);
    line
}

/// File name of the runtime archive of an app ([`crate::AppNames::archive_stem`]), version and
/// variant (the base variant keeps the name runtimes had before profiles:
/// `<app>-runtime-<version>-<target>.tar.zst`).
pub fn archive_name(stem: &str, version: &Version, variant: Variant) -> String {
    format!("{stem}-{version}-{variant}.tar.zst")
}

/// `runtime-<channel>.json`: the channel's signed release index (`.minisig` beside it).
pub fn index_file_name(channel: Channel) -> String {
    format!("runtime-{channel}.json")
}

/// `latest-<channel>.json`: Tauri's updater manifest for the channel's shells, beside
/// [`index_file_name`] under the release base URL.
pub fn shell_update_manifest_name(channel: Channel) -> String {
    format!("latest-{channel}.json")
}
