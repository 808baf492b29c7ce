//! Authenticode signing of Windows binaries: `osslsigncode` on any host, `signtool` on Windows.
//!
//! CI signs the Windows installer and the shell executable from a Linux runner with
//! `osslsigncode` (same PKCS#7 Authenticode signature `signtool` makes); a Windows host with
//! the certificate in a `.pfx` can use [`signtool_command`] instead.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// Signs a PE file (`.exe`, `.dll`, `.pyd`, `.msi`) with `osslsigncode sign`, writing `output`.
///
/// `cert` is a PEM/DER certificate (chain) together with `key`, or, when `key` is `None`, a
/// PKCS#12 (`.p12`/`.pfx`) holding both. The key password is passed on stdin
/// (`-readpass -`), never on the command line where other processes could read it. With a
/// `timestamp_url` the signature is RFC 3161 timestamped (`-ts`), so it stays valid after the
/// certificate expires; release builds should always give one. SHA-256 throughout.
/// `description` (the product name) is shown by Windows in the UAC prompt and the file's
/// signature details.
pub fn sign_pe_with_osslsigncode(
    input: &Path,
    output: &Path,
    cert: &Path,
    key: Option<&Path>,
    password: Option<&str>,
    timestamp_url: Option<&str>,
    description: &str,
) -> Result<()> {
    let mut command = Command::new("osslsigncode");
    command.arg("sign");
    match key {
        Some(key) => {
            command.arg("-certs").arg(cert).arg("-key").arg(key);
        }
        None => {
            command.arg("-pkcs12").arg(cert);
        }
    }
    if password.is_some() {
        command.args(["-readpass", "-"]);
    }
    command.args(["-h", "sha256", "-n", description]);
    if let Some(timestamp_url) = timestamp_url {
        command.args(["-ts", timestamp_url]);
    }
    command.arg("-in").arg(input).arg("-out").arg(output);
    run_osslsigncode(command, "sign", input, password)
}

/// Checks the Authenticode signature of `path` with `osslsigncode verify`, trusting the CA
/// certificates in `ca_file` (PEM). Fails if the file changed after signing.
pub fn verify_pe_with_osslsigncode(path: &Path, ca_file: &Path) -> Result<()> {
    let mut command = Command::new("osslsigncode");
    command
        .arg("verify")
        .arg("-CAfile")
        .arg(ca_file)
        .arg("-in")
        .arg(path);
    run_osslsigncode(command, "verify", path, None)
}

/// The `signtool sign` argv for a Windows host (program name first), for the same signature
/// [`sign_pe_with_osslsigncode`] makes: SHA-256 file digest, RFC 3161 timestamp with SHA-256.
///
/// `signtool` has no way to read the `.pfx` password from stdin; when `password` is given it
/// appears in the argv, so run this only on a CI runner nobody else shares, or import the
/// certificate into the runner's store beforehand and pass `None`.
pub fn signtool_command(
    file: &Path,
    pfx: &Path,
    password: Option<&str>,
    timestamp_url: Option<&str>,
    description: &str,
) -> Vec<String> {
    let mut argv = vec![
        "signtool".to_owned(),
        "sign".to_owned(),
        "/fd".to_owned(),
        "SHA256".to_owned(),
        "/f".to_owned(),
        pfx.display().to_string(),
    ];
    if let Some(password) = password {
        argv.extend(["/p".to_owned(), password.to_owned()]);
    }
    if let Some(timestamp_url) = timestamp_url {
        argv.extend([
            "/tr".to_owned(),
            timestamp_url.to_owned(),
            "/td".to_owned(),
            "SHA256".to_owned(),
        ]);
    }
    argv.extend([
        "/d".to_owned(),
        description.to_owned(),
        file.display().to_string(),
    ]);
    argv
}

fn run_osslsigncode(
    mut command: Command,
    action: &'static str,
    path: &Path,
    password: Option<&str>,
) -> Result<()> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| Error::ToolMissing {
        tool: "osslsigncode",
        package: "osslsigncode",
        source,
    })?;
    {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        if let Some(password) = password {
            // A closed pipe here means osslsigncode already failed; its exit status says why.
            let _ = writeln!(stdin, "{password}");
        }
    }
    let result = child.wait_with_output()?;
    if result.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&result.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&result.stderr));
    Err(Error::ToolFailed {
        tool: "osslsigncode",
        action,
        path: path.to_owned(),
        status: result.status,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signtool_argv() {
        let argv = signtool_command(
            Path::new("TokenizerStudio.exe"),
            Path::new("release.pfx"),
            None,
            Some("http://timestamp.invalid"),
            "Tokenizer Studio",
        );
        assert_eq!(
            argv.join(" "),
            "signtool sign /fd SHA256 /f release.pfx /tr http://timestamp.invalid /td SHA256 \
             /d Tokenizer Studio TokenizerStudio.exe"
        );
    }
}
