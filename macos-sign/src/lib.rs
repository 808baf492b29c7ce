//! Signs and verifies the Mach-O files of a macOS runtime and app bundle (apple-codesign, from any host).
