//! `free_space` on real filesystems.

use runtime_archive::free_space;

#[test]
fn free_space_is_positive_and_works_for_paths_not_yet_created() {
    let tmp = tempfile::tempdir().unwrap();
    let here = free_space(tmp.path()).unwrap();
    assert!(here > 0);
    let later = free_space(&tmp.path().join("not/yet/created")).unwrap();
    // Same filesystem; allow for other writers in between.
    let diff = here.abs_diff(later);
    assert!(diff < 1 << 30, "{here} vs {later}");
}

#[cfg(unix)]
#[test]
fn free_space_matches_df_order_of_magnitude() {
    // statvfs on "/" must not exceed the filesystem's size.
    let free = free_space(std::path::Path::new("/")).unwrap();
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let root = std::ffi::CString::new("/").unwrap();
    assert_eq!(unsafe { libc::statvfs(root.as_ptr(), &mut stat) }, 0);
    #[allow(clippy::unnecessary_cast)]
    let total = stat.f_blocks as u64 * stat.f_frsize as u64;
    assert!(free <= total);
}
