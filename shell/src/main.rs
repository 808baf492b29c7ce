//! The desktop shell's entry point; everything lives in the library's `run()`.

// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    shell::run()
}
