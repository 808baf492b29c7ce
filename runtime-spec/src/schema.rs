//! JSON schemas of the manifest, the release index and the app descriptor, snapshot-tested in
//! `schema/`.

use crate::{AppDescriptor, Manifest, ReleaseIndex};

/// The manifest's JSON schema, pretty-printed with a trailing newline.
pub fn manifest_schema() -> String {
    pretty(schemars::schema_for!(Manifest))
}

/// The release index's JSON schema, pretty-printed with a trailing newline.
pub fn release_index_schema() -> String {
    pretty(schemars::schema_for!(ReleaseIndex))
}

/// The app descriptor's (`apps/<app>/app.toml`) JSON schema, pretty-printed with a trailing
/// newline.
/// The JSON schema of `apps-<channel>.json`.
pub fn registry_schema() -> String {
    pretty(schemars::schema_for!(crate::AppRegistry))
}

pub fn app_schema() -> String {
    pretty(schemars::schema_for!(AppDescriptor))
}

fn pretty(schema: schemars::Schema) -> String {
    let mut json = serde_json::to_string_pretty(&schema).expect("schema serialises");
    json.push('\n');
    json
}
