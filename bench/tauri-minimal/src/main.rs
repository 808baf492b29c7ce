//! A minimal Tauri v2 app: one window, one static page served by Tauri's custom protocol, no
//! plugins. It is the anchor `cargo xtask bench shell` measures the shell against (binary size,
//! launch → UI ready, idle memory per process), built with the same Tauri and release profile.
//! When its page has loaded it prints `ui loaded` on stdout, as the shell logs it.

use std::io::Write;

fn main() {
    tauri::Builder::default()
        .on_page_load(|_webview, payload| {
            if payload.event() == tauri::webview::PageLoadEvent::Finished {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "ui loaded");
                let _ = stdout.flush();
            }
        })
        .run(tauri::generate_context!())
        .expect("the window system could not be started (is a display available?)");
}
