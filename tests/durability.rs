//! Crash safety of saves: a saver SIGKILLed at random points always leaves
//! a whole, loadable file; loads reject truncated and corrupted files; two
//! processes saving one path never produce a mixed file.
//!
//! The child processes are this test binary itself, re-run with
//! [`CHILD_ENV`] set and the filter `child`, so no helper binary is needed.
//! Each saved file encodes its writer and version in its metadata and in a
//! payload derived from them, so a load can tell exactly which save it got.
//!
//! Run with `--nocapture` to see the figures (kills, mid-write landings,
//! offsets tried, loads between concurrent saves).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sightline::als::{AlsConfig, AlsModel};
use sightline::data::Interactions;
use sightline::store::{ModelFile, TensorData};
use sightline::{Component, Error};

/// Set in a child: `writer,payload_values,saves` (saves 0 = until killed).
const CHILD_ENV: &str = "SIGHTLINE_DURABILITY_CHILD";
/// Set in a child: the path it saves to.
const PATH_ENV: &str = "SIGHTLINE_DURABILITY_PATH";

/// The file writer `w` saves as its version `v`: the pair in the metadata
/// and a payload every value of which depends on both.
fn versioned(w: u32, v: u32, n: usize) -> ModelFile {
    let mut f = ModelFile::new();
    f.set_meta("version", serde_json::json!({ "writer": w, "version": v }));
    f.put("payload", vec![n], TensorData::U32(payload(w, v, n)))
        .unwrap();
    f
}

fn payload(w: u32, v: u32, n: usize) -> Vec<u32> {
    let seed = (w << 24) ^ v.wrapping_mul(0x9E37_79B9);
    (0..n as u32)
        .map(|i| seed ^ i.wrapping_mul(0x85EB_CA6B))
        .collect()
}

/// The (writer, version) of a loaded file, checking that every payload
/// value is the one that save wrote (a mixed file fails here even if it
/// somehow passed the checksum).
fn identify(f: &ModelFile) -> (u32, u32) {
    let meta = f.meta("version").expect("version metadata");
    let w = meta["writer"].as_u64().unwrap() as u32;
    let v = meta["version"].as_u64().unwrap() as u32;
    let t = f.tensor("payload").unwrap();
    let TensorData::U32(got) = &t.data else {
        panic!("payload dtype")
    };
    assert!(
        *got == payload(w, v, got.len()),
        "payload of writer {w} version {v} is not the one it saved"
    );
    (w, v)
}

/// The child: saves versions 1, 2, … of its writer to the path, printing
/// `saved v` after each save returns.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(std::env::var(PATH_ENV).unwrap());
    let parts: Vec<usize> = spec.split(',').map(|s| s.parse().unwrap()).collect();
    let (w, n, saves) = (parts[0] as u32, parts[1], parts[2]);
    println!("started");
    let mut v = 1u32;
    while saves == 0 || v as usize <= saves {
        versioned(w, v, n).save(&path).unwrap();
        println!("saved {v}");
        v += 1;
    }
}

fn spawn_child(path: &Path, writer: u32, values: usize, saves: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{writer},{values},{saves}"))
        .env(PATH_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// SplitMix64: a fixed-seed source of kill delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn a_save_killed_at_random_points_leaves_a_whole_file() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    const KILLS: usize = 48;
    // 4M u32 values: a 16 MB file, so a kill often lands mid-write.
    const VALUES: usize = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.slm");
    let started = Instant::now();
    // Version 0 of writer 0 is there before any child runs.
    versioned(0, 0, VALUES).save(&path).unwrap();
    let save_time = started.elapsed();
    let mut rng = Rng(0x5EED_D00D);
    let mut current = (0u32, 0u32);
    let (mut mid_write, mut between, mut reported_saves) = (0, 0, 0);
    for round in 1..=KILLS as u32 {
        let mut child = spawn_child(&path, round, VALUES, 0);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait until it runs, then kill at a random point of the next
        // couple of saves (build, write, sync, rename, print).
        // (after libtest's own lines, which may share the line).
        assert!(
            lines.any(|l| l.unwrap().ends_with("started")),
            "the child did not start"
        );
        let window = save_time.as_micros() as u64 * 5 / 2 + 1;
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "child ended on its own: {status}");
        }
        let last = lines
            .map_while(|l| l.ok())
            .filter_map(|l| l.strip_prefix("saved ")?.parse::<u32>().ok())
            .last()
            .unwrap_or(0);
        reported_saves += last as usize;
        let strays = temp_files(dir.path());
        if strays.is_empty() {
            between += 1;
        } else {
            mid_write += 1;
        }
        // The file is one whole version: the one before this child, or one
        // this child saved (the last it reported, or the next if the kill
        // came between its rename and its print).
        let got = identify(&ModelFile::load(&path).expect("the file loads after a kill"));
        let ok = if got.0 == round {
            got.1 == last || got.1 == last + 1
        } else {
            last == 0 && got == current
        };
        assert!(
            ok,
            "round {round}: loaded {got:?}, child reported {last} saves, before it {current:?}"
        );
        current = got;
        // Age the orphans past ORPHAN_AGE: the next save must remove them.
        for p in strays {
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
                .unwrap();
        }
    }
    versioned(0, 1, 16).save(&path).unwrap();
    assert!(
        temp_files(dir.path()).is_empty(),
        "a save removes the orphans of killed saves"
    );
    println!(
        "durability: {KILLS} kills of a 16 MB saver (one save {save_time:?}): {mid_write} landed mid-write \
         (temp file left), {between} outside a write (building, or between saves), {KILLS} survived (whole file loaded); \
         {reported_saves} saves completed in all, in {:?}",
        started.elapsed()
    );
}

#[cfg(unix)]
#[test]
fn two_processes_saving_one_path_never_mix() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    const SAVES: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.slm");
    versioned(0, 0, 1000).save(&path).unwrap();
    let started = Instant::now();
    // Different sizes too, so a mix of the two would also break the layout.
    let mut children = [
        spawn_child(&path, 1, 256 << 10, SAVES),
        spawn_child(&path, 2, 384 << 10, SAVES),
    ];
    let mut loads = [0usize; 3];
    let mut last_seen = [0u32; 3];
    let mut running = true;
    while running {
        running = children.iter_mut().any(|c| c.try_wait().unwrap().is_none());
        let (w, v) = identify(&ModelFile::load(&path).expect("loads between saves"));
        loads[w as usize] += 1;
        assert!(v >= last_seen[w as usize], "writer {w} went back in time");
        last_seen[w as usize] = v;
        assert!(started.elapsed() < Duration::from_secs(60), "savers hang");
    }
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let end = identify(&ModelFile::load(&path).unwrap());
    assert!(
        end == (1, SAVES as u32) || end == (2, SAVES as u32),
        "{end:?}"
    );
    assert!(temp_files(dir.path()).is_empty());
    println!(
        "durability: 2 processes × {SAVES} saves to one path; {} loads in between \
         (writer 0/1/2: {loads:?}) all whole; final {end:?}; {:?}",
        loads.iter().sum::<usize>(),
        started.elapsed()
    );
}

/// A small real model: ALS over a few users and items.
fn small_als() -> AlsModel {
    let (mut u, mut i, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for user in 0..12u32 {
        for k in 0..4u32 {
            u.push(user);
            i.push((user * 3 + k * 5) % 20);
            w.push(1.0 + k as f32);
        }
    }
    let data = Interactions::from_coo(12, 20, &u, &i, &w).unwrap();
    let config = AlsConfig {
        factors: 4,
        iterations: 3,
        num_threads: 1,
        ..Default::default()
    };
    AlsModel::fit(&config, &data).unwrap()
}

/// A loader's verdict on damaged bytes: a format error, or (rarely, when
/// the damage is in JSON whitespace) exactly the original.
fn check_damaged(bytes: &[u8], original: &ModelFile, what: &str) -> bool {
    match ModelFile::from_bytes(bytes) {
        Err(Error::ModelFormat(_)) => false,
        Ok(f) if f == *original => true,
        Ok(_) => panic!("{what}: a different model loaded"),
        Err(e) => panic!("{what}: {e} is not a ModelFormat error"),
    }
}

#[test]
fn loads_reject_truncated_and_corrupted_files() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let started = Instant::now();
    let als = small_als();
    let small = als.to_bytes().unwrap();
    let small_file = ModelFile::from_bytes(&small).unwrap();
    // Every truncation of the small file, through the component loader
    // too; and every byte flipped.
    for cut in 0..small.len() {
        assert!(!check_damaged(
            &small[..cut],
            &small_file,
            &format!("cut {cut}")
        ));
        assert!(matches!(
            AlsModel::from_bytes(&small[..cut]),
            Err(Error::ModelFormat(_))
        ));
    }
    let mut unchanged = 0;
    for at in 0..small.len() {
        let mut bad = small.clone();
        bad[at] ^= 0xff;
        unchanged += usize::from(check_damaged(&bad, &small_file, &format!("flip {at}")));
    }
    // A 16 MB file: 200 cuts and 200 flips spread over it, plus the ends.
    let big_file = versioned(7, 7, 4 << 20);
    let big = big_file.to_bytes().unwrap();
    let mut rng = Rng(42);
    let mut cuts: Vec<usize> = (0..200).map(|_| rng.next() as usize % big.len()).collect();
    cuts.extend([0, 7, 8, 9, big.len() - 1]);
    for &cut in &cuts {
        assert!(!check_damaged(
            &big[..cut],
            &big_file,
            &format!("big cut {cut}")
        ));
    }
    let mut big_bad = big.clone();
    for _ in 0..200 {
        let at = rng.next() as usize % big.len();
        big_bad[at] ^= 0xff;
        unchanged += usize::from(check_damaged(
            &big_bad,
            &big_file,
            &format!("big flip {at}"),
        ));
        big_bad[at] ^= 0xff;
    }
    // A truncated file on disk (what a non-atomic writer would leave).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.slm");
    std::fs::write(&p, &small[..small.len() / 2]).unwrap();
    assert!(matches!(AlsModel::load(&p), Err(Error::ModelFormat(_))));
    println!(
        "durability: {} + {} truncation offsets and {} + 200 byte flips rejected \
         ({unchanged} flips left the model unchanged); {:?}",
        small.len(),
        cuts.len(),
        small.len(),
        started.elapsed()
    );
}
