//! What any Valgrind XML parser's speed is measured against, over one file
//! in this process: a bare quick-xml event loop (no work per event) and a
//! memchr pass over the bytes. `cargo xtask bench --vgxml` runs it (release)
//! next to the `vgxml` binary.
//!
//! ```text
//! floors FILE [RUNS]   # prints {"quick_xml_mb_s": .., "memchr_mb_s": ..} (medians)
//! ```

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Instant;

fn quick_xml_events(path: &Path) -> u64 {
    let f = BufReader::with_capacity(1 << 20, File::open(path).expect("open"));
    let mut r = quick_xml::Reader::from_reader(f);
    r.config_mut().check_end_names = false;
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0u64;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(_) => n += 1,
        }
        buf.clear();
    }
}

fn memchr_pass(path: &Path) -> u64 {
    let mut f = File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).expect("read");
        if k == 0 {
            return n;
        }
        n += memchr::memchr_iter(b'<', &buf[..k]).count() as u64;
    }
}

fn median_mb_s(path: &Path, runs: usize, f: fn(&Path) -> u64) -> f64 {
    let len = std::fs::metadata(path).expect("stat").len() as f64;
    let mut t: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f(path));
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    len / 1e6 / t[t.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: floors FILE [RUNS]");
    let runs = args.next().and_then(|r| r.parse().ok()).unwrap_or(3);
    let path = Path::new(&path);
    println!(
        "{{\"quick_xml_mb_s\": {:.1}, \"memchr_mb_s\": {:.1}}}",
        median_mb_s(path, runs, quick_xml_events),
        median_mb_s(path, runs, memchr_pass)
    );
}
