//! The floor under `mimeflow convert --to maildir|eml`: what the file
//! system itself costs for the same files (issue 13: within 1.2x).
//!
//! Given a folder the CLI wrote (the reference), it reads every regular
//! file in it, with its bytes and modification time, before the timer.
//! Timed: a plain loop that creates the same folders and files under a
//! fresh DEST with the calls the CLI makes for each file (the crate's own
//! [`Dir`]: `openat` with `O_CREAT|O_EXCL|O_NOFOLLOW` relative to the
//! folder's descriptor, one `write`, `futimens`, `close`), on JOBS threads
//! that take the files in turn (file i goes to thread i mod JOBS), as
//! `-j JOBS` writes them. What the floor leaves out is the CLI's own work:
//! reading and parsing the archive, naming the files, the state file of
//! `--resume` and the final rename of DEST.partial.
//!
//! A plain binary (`harness = false`); `benches/folders_vs_fs.py`
//! alternates it with the CLI on tmpfs and on the disk.
//!
//! ```text
//! mimeflow convert archive.mbox --to maildir /dev/shm/ref -q
//! cargo bench --bench folder_floor -- /dev/shm/ref /dev/shm/floor-1 2
//! ```
//!
//! Prints one line: `files=N bytes=N floor_s=S cpu_s=S`, the wall time and
//! the CPU time (user and system, all threads) of the timed part. Without
//! arguments it says so and exits 0, so `cargo bench` runs it harmlessly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use mimeflow::safe_fs::Dir;

/// One file of the reference: its folder (an index into the folder
/// list), name, bytes and modification time.
struct Entry {
    dir: usize,
    name: String,
    data: Vec<u8>,
    mtime: SystemTime,
}

/// Reads every folder (relative paths, parents first) and regular file
/// under `root`.
fn read_tree(root: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<Entry>)> {
    let mut dirs = vec![PathBuf::new()];
    let mut files = Vec::new();
    let mut i = 0;
    while i < dirs.len() {
        let mut names: Vec<_> =
            std::fs::read_dir(root.join(&dirs[i]))?.collect::<Result<Vec<_>, _>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let kind = e.file_type()?;
            let rel = dirs[i].join(e.file_name());
            if kind.is_dir() {
                dirs.push(rel);
            } else if kind.is_file() {
                let meta = e.metadata()?;
                files.push(Entry {
                    dir: i,
                    name: e.file_name().to_string_lossy().into_owned(),
                    data: std::fs::read(e.path())?,
                    mtime: meta.modified()?,
                });
            }
        }
        i += 1;
    }
    Ok((dirs, files))
}

fn write_file(dir: &Dir, e: &Entry) -> std::io::Result<()> {
    let mut f = dir.create_new(&e.name)?;
    f.write_all(&e.data)?;
    f.set_modified(e.mtime)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [reference, dest, jobs] = match args.as_slice() {
        [r, d, j] => [r, d, j],
        _ => {
            eprintln!("folder_floor: skipped (usage: folder_floor REFERENCE_DIR DEST JOBS)");
            return;
        }
    };
    let jobs: usize = jobs.parse().expect("JOBS is a number");
    let (dirs, files) = read_tree(Path::new(reference)).expect("read the reference folder");
    let bytes: usize = files.iter().map(|e| e.data.len()).sum();
    let dest = Path::new(dest);

    let cpu = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    };
    let cpu_start = cpu();
    let start = Instant::now();
    std::fs::create_dir(dest).expect("DEST must not exist");
    let mut opened: Vec<Dir> = Vec::with_capacity(dirs.len());
    for d in &dirs {
        opened.push(if d.as_os_str().is_empty() {
            Dir::open(dest).expect("open DEST")
        } else {
            let parent = &opened[dirs
                .iter()
                .position(|p| Some(p.as_path()) == d.parent())
                .expect("parents come first")];
            parent
                .create_dir(d.file_name().expect("a folder name"))
                .expect("create a folder")
        });
    }
    std::thread::scope(|s| {
        for t in 0..jobs.max(1) {
            let (opened, files) = (&opened, &files);
            s.spawn(move || {
                for e in files.iter().skip(t).step_by(jobs.max(1)) {
                    write_file(&opened[e.dir], e).expect("write a file");
                }
            });
        }
    });
    let took: Duration = start.elapsed();
    println!(
        "files={} bytes={} floor_s={:.4} cpu_s={:.4}",
        files.len(),
        bytes,
        took.as_secs_f64(),
        cpu() - cpu_start
    );
}
