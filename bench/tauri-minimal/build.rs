//! Tauri build step: embeds the config and the static page.

fn main() {
    tauri_build::build()
}
