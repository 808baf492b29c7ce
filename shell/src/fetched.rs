//! Apps this shell does not carry, fetched through the signed app registry.
//!
//! The registry lists every app of a release with the names it goes by at run time (id,
//! product name, identifier, data folder, variable prefix, engine module) and its runtime index.
//! When the launcher accepts a registry it keeps a copy, bytes and signature, in the primary
//! app's `runtime/registry/`. Every later start of this shell reads that copy back and checks it
//! again with the key built in, so an app the registry lists that the shell does not carry is
//! known to it ([`crate::known`]): the launcher lists and opens it, `--app <id>` runs it, and its
//! runtime installs and updates from the index the registry names. A copy that does not verify
//! is ignored; an app whose identifier, data folder or variable prefix is a carried app's is
//! never taken (it would share that app's data and settings).
//!
//! A fetched app has no self-test steps in this shell (they are compiled in) and the primary
//! app's icons.

use std::path::{Path, PathBuf};

use runtime_spec::AppRegistry;

use crate::KnownApp;

/// The copy of the accepted registry, in the primary app's `runtime/`.
const CACHE_DIR: &str = "registry";
const REGISTRY_FILE: &str = "apps.json";
const SIGNATURE_FILE: &str = "apps.json.minisig";
const URL_FILE: &str = "apps.url";

/// `<primary data root>/runtime/registry/`.
pub fn cache_dir() -> PathBuf {
    crate::resolve_data_root_of(&crate::carried()[0].names)
        .join("runtime")
        .join(CACHE_DIR)
}

/// Keeps an accepted registry (its bytes, signature and URL) for the next starts. Each file is
/// written beside and renamed into place, so a cut never leaves a half-written copy that would
/// then fail to verify.
pub fn save(dir: &Path, url: &str, json: &[u8], signature: &str) -> std::io::Result<()> {
    supervisor::private::create_private_dir(dir)?;
    for (name, bytes) in [
        (REGISTRY_FILE, json),
        (SIGNATURE_FILE, signature.as_bytes()),
        (URL_FILE, url.as_bytes()),
    ] {
        let part = dir.join(format!("{name}.part"));
        std::fs::write(&part, bytes)?;
        std::fs::rename(&part, dir.join(name))?;
    }
    Ok(())
}

/// The kept registry and its URL, when it verifies with `public_key` for `channel`.
pub fn load(
    dir: &Path,
    public_key: &runtime_spec::PublicKey,
    channel: runtime_spec::Channel,
) -> Option<(String, AppRegistry)> {
    let json = std::fs::read(dir.join(REGISTRY_FILE)).ok()?;
    let signature = std::fs::read_to_string(dir.join(SIGNATURE_FILE)).ok()?;
    let url = std::fs::read_to_string(dir.join(URL_FILE)).ok()?;
    let source = updater::registry::RegistrySource {
        url: url.trim().to_owned(),
        public_key: public_key.clone(),
        channel,
    };
    // No replay check: this copy is one this shell accepted itself.
    let registry = updater::registry::verify(&json, &signature, &source, None).ok()?;
    Some((source.url, registry))
}

/// The apps `registry` (fetched from `url`) lists that `carried` lacks, as apps this shell can
/// run. An app that would share a carried app's identifier, data folder or variable prefix
/// is left out, and so is one whose index URL does not resolve.
pub fn fetched_apps(carried: &[KnownApp], url: &str, registry: &AppRegistry) -> Vec<KnownApp> {
    let clashes = |listed: &runtime_spec::RegistryApp| {
        carried.iter().any(|app| {
            app.names.id == listed.id
                || app
                    .names
                    .identifier
                    .eq_ignore_ascii_case(&listed.identifier)
                || app
                    .names
                    .data_folder
                    .eq_ignore_ascii_case(&listed.data_folder)
                || app.names.env_prefix == listed.env_prefix
        })
    };
    registry
        .apps
        .iter()
        .filter(|listed| !clashes(listed))
        .filter_map(|listed| {
            let index_url = updater::registry::index_url(url, listed).ok()?;
            Some(KnownApp {
                names: listed.names(),
                self_test: "",
                release_folder: "",
                index_url: Some(index_url),
            })
        })
        .collect()
}

/// The apps the kept registry adds to the carried ones (none without a key or channel built
/// in, or without a kept registry that verifies).
pub fn cached_apps(carried: &[KnownApp]) -> Vec<KnownApp> {
    let (Some(public_key), Some(channel)) =
        (crate::built_in::update_key(), crate::built_in::channel())
    else {
        return Vec::new();
    };
    load(&cache_dir(), &public_key, channel)
        .map(|(url, registry)| fetched_apps(carried, &url, &registry))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime_spec::{Channel, RegistryApp};

    fn listed(id: &str, folder: &str, prefix: &str) -> RegistryApp {
        RegistryApp {
            id: id.into(),
            product_name: format!("App {id}"),
            version: "0.3.0".parse().unwrap(),
            index_url: format!("{id}/runtime-dev.json"),
            identifier: format!("dev.example.{id}"),
            data_folder: folder.into(),
            env_prefix: prefix.into(),
            module: "engine".into(),
        }
    }

    fn registry(apps: Vec<RegistryApp>) -> AppRegistry {
        let mut apps = apps;
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        AppRegistry {
            schema_version: runtime_spec::registry::REGISTRY_SCHEMA_VERSION,
            channel: Channel::Dev,
            published_at: 1_800_000_000,
            apps,
        }
    }

    #[test]
    fn a_listed_app_the_shell_lacks_is_known_by_its_registry_names_unless_it_clashes() {
        let carried = crate::carried();
        let primary = &carried[0].names;
        let mut same_id = listed(&primary.id, "Elsewhere", "ELSEWHERE");
        same_id.identifier = "dev.example.elsewhere".into();
        let registry = registry(vec![
            listed("word-counter", "WordCounter", "WORD_COUNTER"),
            same_id,
            // Another id, but the primary app's data folder: it would read that app's data.
            listed("squatter", &primary.data_folder.to_lowercase(), "SQUATTER"),
            listed("prefix-thief", "PrefixThief", &primary.env_prefix),
        ]);
        let apps = fetched_apps(carried, "https://r.example/rel/apps-dev.json", &registry);
        let ids: Vec<&str> = apps.iter().map(|app| app.names.id.as_str()).collect();
        assert_eq!(ids, ["word-counter"]);
        let app = &apps[0];
        assert_eq!(app.names.data_folder, "WordCounter");
        assert_eq!(app.names.identifier, "dev.example.word-counter");
        assert_eq!(
            app.index_url.as_deref(),
            Some("https://r.example/rel/word-counter/runtime-dev.json")
        );
        assert!(app.self_test.is_empty());
        assert_eq!(
            app.index_url_for(Channel::Dev),
            "https://r.example/rel/word-counter/runtime-dev.json"
        );
    }

    #[test]
    fn the_kept_registry_is_used_only_while_it_verifies_with_the_key_built_in() {
        let (public, secret) = release_meta::generate_keypair(None).unwrap();
        let key = runtime_spec::PublicKey::parse(&public).unwrap();
        let registry = registry(vec![listed("word-counter", "WordCounter", "WORD_COUNTER")]);
        let signed = tempfile::tempdir().unwrap();
        let (json_path, signature_path) =
            release_meta::write_signed_registry(&registry, signed.path(), &secret, None).unwrap();
        let json = std::fs::read(&json_path).unwrap();
        let signature = std::fs::read_to_string(&signature_path).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("runtime").join(CACHE_DIR);
        let url = "https://r.example/rel/apps-dev.json";
        save(&cache, url, &json, &signature).unwrap();
        let (loaded_url, loaded) = load(&cache, &key, Channel::Dev).unwrap();
        assert_eq!((loaded_url.as_str(), &loaded), (url, &registry));
        // Nothing half-written is left.
        let names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|name| name.ends_with(".part")),
            "{names:?}"
        );

        // Another channel's shell, another key, or one changed byte: the copy is not used.
        assert!(load(&cache, &key, Channel::Beta).is_none());
        let (other, _) = release_meta::generate_keypair(None).unwrap();
        let other = runtime_spec::PublicKey::parse(&other).unwrap();
        assert!(load(&cache, &other, Channel::Dev).is_none());
        let mut tampered = json.clone();
        let at = tampered
            .windows(b"WordCounter".len())
            .position(|window| window == b"WordCounter")
            .unwrap();
        tampered[at] = b'X';
        std::fs::write(cache.join(REGISTRY_FILE), &tampered).unwrap();
        assert!(load(&cache, &key, Channel::Dev).is_none());
    }
}
