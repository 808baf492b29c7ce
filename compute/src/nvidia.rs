//! NVIDIA GPUs through `nvidia-smi`, the tool every NVIDIA driver installs: no CUDA or NVML
//! library is linked, so the shell runs the same on machines without any NVIDIA software.

use crate::parse::parse_nvidia_smi_csv;
use crate::probe::Gpu;
use crate::run::run;

const WITH_COMPUTE_CAP: &str = "--query-gpu=name,driver_version,compute_cap,memory.total";
/// Drivers before about 510 refuse the `compute_cap` field; they still answer the rest.
const WITHOUT_COMPUTE_CAP: &str = "--query-gpu=name,driver_version,memory.total";
const FORMAT: &str = "--format=csv,noheader,nounits";

/// The GPUs `nvidia-smi` lists (on `PATH`, else at one of `known_paths`); `None` when no
/// `nvidia-smi` answered, so the caller can try another source.
pub fn gpus(known_paths: &[&str]) -> Option<Vec<Gpu>> {
    let programs = std::iter::once("nvidia-smi").chain(known_paths.iter().copied());
    for program in programs {
        if program != "nvidia-smi" && !std::path::Path::new(program).is_file() {
            continue;
        }
        if let Some(text) = run(program, &[WITH_COMPUTE_CAP, FORMAT]) {
            return Some(parse_nvidia_smi_csv(&text, true));
        }
        if let Some(text) = run(program, &[WITHOUT_COMPUTE_CAP, FORMAT]) {
            return Some(parse_nvidia_smi_csv(&text, false));
        }
    }
    None
}
