//! `just usb DEVICE`: write the bootable image to a removable drive, after showing what the
//! drive is and asking. A drive that is not removable, is mounted, or is smaller than the image
//! is refused. Facts come from sysfs (`/sys/block/<name>/{removable,size,device/model}`) and
//! `/proc/mounts`; the functions take their roots as arguments so tests can give fake ones.

use crate::{out, outln};
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// What the system says about a whole-disk block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    /// `sdb` for `/dev/sdb`.
    pub name: String,
    pub model: String,
    pub size_bytes: u64,
    pub removable: bool,
    /// Mount points of the device or its partitions.
    pub mounted_at: Vec<String>,
}

/// The kernel's name of `device` (`/dev/sdb` → `sdb`), refusing partitions and non-`/dev`
/// paths with a hint.
pub fn device_name(device: &str) -> Result<String, String> {
    let name = device
        .strip_prefix("/dev/")
        .ok_or_else(|| format!("'{device}' is not a /dev path (for example /dev/sdb)"))?;
    if name.is_empty() || name.contains('/') {
        return Err(format!(
            "'{device}' is not a whole-disk device like /dev/sdb"
        ));
    }
    Ok(name.to_string())
}

/// Read the facts about `name` from `sys_block` (normally /sys/block) and `mounts` (the text
/// of /proc/mounts).
pub fn inspect(sys_block: &Path, name: &str, mounts: &str) -> Result<Drive, String> {
    let dir = sys_block.join(name);
    if !dir.is_dir() {
        return Err(format!(
            "/dev/{name} is not a whole disk the kernel knows (no {}); a partition such as \
             sdb1 is refused: give the disk",
            dir.display()
        ));
    }
    let read = |f: &str| fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
    let removable = read("removable").map_err(|e| format!("{}/removable: {e}", dir.display()))?;
    let sectors: u64 = read("size")
        .map_err(|e| format!("{}/size: {e}", dir.display()))?
        .parse()
        .map_err(|_| format!("{}/size is not a number", dir.display()))?;
    let model = read("device/model").unwrap_or_else(|_| "(unknown model)".into());
    let dev = format!("/dev/{name}");
    let mounted_at = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (src, at) = (f.next()?, f.next()?);
            let part = src.strip_prefix(&dev)?;
            // The disk itself or one of its partitions (sdb1, nvme0n1p1).
            (part.is_empty()
                || part
                    .trim_start_matches('p')
                    .bytes()
                    .all(|b| b.is_ascii_digit()))
            .then(|| at.to_string())
        })
        .collect();
    Ok(Drive {
        name: name.to_string(),
        model,
        // sysfs counts 512-byte sectors whatever the device's own sector size.
        size_bytes: sectors * 512,
        removable: removable == "1",
        mounted_at,
    })
}

/// Why the drive must not be written, if it must not.
pub fn refuse(d: &Drive, image_bytes: u64) -> Option<String> {
    if !d.removable {
        return Some(format!(
            "/dev/{} ({}) is not a removable drive; refusing to overwrite it",
            d.name, d.model
        ));
    }
    if !d.mounted_at.is_empty() {
        return Some(format!(
            "/dev/{} is mounted at {}; unmount it first",
            d.name,
            d.mounted_at.join(", ")
        ));
    }
    if d.size_bytes < image_bytes {
        return Some(format!(
            "/dev/{} holds {} bytes, the image needs {image_bytes}",
            d.name, d.size_bytes
        ));
    }
    None
}

/// Show the drive, ask for its name to be typed back, and write the image.
pub fn write_image(device: &str, image: &Path, assume_yes: bool) -> Result<(), String> {
    let name = device_name(device)?;
    let mounts = fs::read_to_string("/proc/mounts").map_err(|e| format!("/proc/mounts: {e}"))?;
    let d = inspect(Path::new("/sys/block"), &name, &mounts)?;
    let image_bytes = fs::metadata(image)
        .map_err(|e| {
            format!(
                "{}: {e} (just usb builds it with just image)",
                image.display()
            )
        })?
        .len();
    if let Some(why) = refuse(&d, image_bytes) {
        return Err(why);
    }
    outln!(
        "Drive /dev/{}: {}, {:.1} GiB, removable, not mounted.",
        d.name,
        d.model,
        d.size_bytes as f64 / (1u64 << 30) as f64
    );
    outln!(
        "Writing {} ({} MiB) will destroy everything on it.",
        image.display(),
        image_bytes >> 20
    );
    if !assume_yes {
        out!("Type the device name ({}) to go on: ", d.name);
        io::stdout().flush().ok();
        let mut answer = String::new();
        io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| e.to_string())?;
        if answer.trim() != d.name {
            return Err("not confirmed; nothing written".into());
        }
    }
    let data = fs::read(image).map_err(|e| format!("{}: {e}", image.display()))?;
    let path = PathBuf::from(device);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {device} for writing: {e} (root needed?)"))?;
    for (i, chunk) in data.chunks(4 << 20).enumerate() {
        f.write_all(chunk)
            .map_err(|e| format!("writing {device}: {e}"))?;
        out!(
            "\r{} of {} MiB",
            ((i + 1) * 4).min((data.len() >> 20) + 1),
            data.len() >> 20
        );
        io::stdout().flush().ok();
    }
    f.sync_all().map_err(|e| format!("syncing {device}: {e}"))?;
    outln!("\nDone: /dev/{} boots the image (BIOS or UEFI).", d.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sys(removable: &str, sectors: u64) -> tempdir::Dir {
        let t = tempdir::Dir::new();
        let d = t.path().join("sdz");
        fs::create_dir_all(d.join("device")).unwrap();
        fs::write(d.join("removable"), format!("{removable}\n")).unwrap();
        fs::write(d.join("size"), format!("{sectors}\n")).unwrap();
        fs::write(d.join("device/model"), "Stick 3.0  \n").unwrap();
        t
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "usb-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(device_name("/dev/sdb").unwrap(), "sdb");
        assert!(device_name("sdb").unwrap_err().contains("/dev path"));
        assert!(
            device_name("/dev/disk/by-id/x")
                .unwrap_err()
                .contains("whole-disk")
        );
    }

    #[test]
    fn a_removable_unmounted_drive_is_accepted() {
        let t = fake_sys("1", 2 * 1024 * 1024);
        let d = inspect(t.path(), "sdz", "/dev/sda1 / ext4 rw 0 0\n").unwrap();
        assert_eq!(d.model, "Stick 3.0");
        assert_eq!(d.size_bytes, 1 << 30);
        assert!(d.removable && d.mounted_at.is_empty());
        assert_eq!(refuse(&d, 24 << 20), None);
    }

    #[test]
    fn fixed_mounted_small_or_unknown_drives_are_refused() {
        let t = fake_sys("0", 2 * 1024 * 1024);
        let d = inspect(t.path(), "sdz", "").unwrap();
        assert!(refuse(&d, 1).unwrap().contains("not a removable drive"));
        let t = fake_sys("1", 2 * 1024 * 1024);
        let d = inspect(t.path(), "sdz", "/dev/sdz1 /media/stick vfat rw 0 0\n").unwrap();
        assert!(refuse(&d, 1).unwrap().contains("mounted at /media/stick"));
        // sdz10 is a partition of sdz, sdzz is another disk.
        let d = inspect(t.path(), "sdz", "/dev/sdzz /x ext4 rw 0 0\n").unwrap();
        assert!(d.mounted_at.is_empty());
        let d = inspect(t.path(), "sdz", "/dev/sdz /y ext4 rw 0 0\n").unwrap();
        assert_eq!(d.mounted_at, ["/y"]);
        let t = fake_sys("1", 100);
        let d = inspect(t.path(), "sdz", "").unwrap();
        assert!(refuse(&d, 1 << 20).unwrap().contains("the image needs"));
        assert!(
            inspect(t.path(), "sdq", "")
                .unwrap_err()
                .contains("not a whole disk")
        );
    }
}
