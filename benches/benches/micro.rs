//! Microbenchmarks of the runtime itself, each against tokio's equivalent
//! (current_thread) in the same run. Each measured iteration does `BATCH`
//! operations inside one `block_on`, so the loop's own entry cost is spread
//! out; divan reports time per iteration and the counter gives per-op rate.
//!
//! ```text
//! taskset -c 0 cargo bench -p ringloop-bench --bench micro
//! ```

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

const BATCH: usize = 1_000;

fn ringloop_rt() -> ringloop::Runtime {
    ringloop::Runtime::new().expect("io_uring available")
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

mod spawn_join {
    use super::*;

    #[divan::bench]
    fn ringloop(b: Bencher) {
        let rt = ringloop_rt();
        b.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for i in 0..BATCH {
                    black_box(ringloop::spawn(async move { i }).await.unwrap());
                }
            })
        });
    }

    #[divan::bench]
    fn tokio(b: Bencher) {
        let rt = tokio_rt();
        b.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for i in 0..BATCH {
                    black_box(tokio::spawn(async move { i }).await.unwrap());
                }
            })
        });
    }
}

mod yield_now {
    use super::*;

    #[divan::bench]
    fn ringloop(b: Bencher) {
        let rt = ringloop_rt();
        b.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    ringloop::yield_now().await;
                }
            })
        });
    }

    #[divan::bench]
    fn tokio(b: Bencher) {
        let rt = tokio_rt();
        b.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    tokio::task::yield_now().await;
                }
            })
        });
    }
}

/// A timer armed and disarmed: `timeout` around a future that is pending
/// once (so the deadline is registered), then ready: the common case of a
/// deadline that is not hit. Includes one yield round trip.
mod timer_arm_disarm {
    use super::*;

    #[divan::bench]
    fn ringloop(b: Bencher) {
        let rt = ringloop_rt();
        b.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for i in 0..BATCH {
                    let r = ringloop::time::timeout(Duration::from_secs(10), async {
                        ringloop::yield_now().await;
                        i
                    })
                    .await;
                    black_box(r.unwrap());
                }
            })
        });
    }

    #[divan::bench]
    fn tokio(b: Bencher) {
        let rt = tokio_rt();
        b.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for i in 0..BATCH {
                    let r = tokio::time::timeout(Duration::from_secs(10), async {
                        tokio::task::yield_now().await;
                        i
                    })
                    .await;
                    black_box(r.unwrap());
                }
            })
        });
    }
}

/// A 1 ms sleep that fires: wake-up cost and accuracy (both runtimes have
/// 1 ms timer granularity).
mod sleep_1ms {
    use super::*;

    const SLEEPS: usize = 20;

    #[divan::bench(sample_count = 20, sample_size = 1)]
    fn ringloop(b: Bencher) {
        let rt = ringloop_rt();
        b.counter(ItemsCount::new(SLEEPS)).bench_local(|| {
            rt.block_on(async {
                for _ in 0..SLEEPS {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
            })
        });
    }

    #[divan::bench(sample_count = 20, sample_size = 1)]
    fn tokio(b: Bencher) {
        let rt = tokio_rt();
        b.counter(ItemsCount::new(SLEEPS)).bench_local(|| {
            rt.block_on(async {
                for _ in 0..SLEEPS {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        });
    }
}

/// Random 4 KiB reads of a cached 64 MiB file.
mod file_read_4k {
    use super::*;

    const FILE_LEN: u64 = 64 << 20;
    const READS: usize = 1_000;

    fn file() -> &'static PathBuf {
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        PATH.get_or_init(|| {
            let path = std::env::temp_dir().join(format!("ringloop-micro-{}", std::process::id()));
            let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
            let mut data = Vec::with_capacity(FILE_LEN as usize);
            while (data.len() as u64) < FILE_LEN {
                data.extend_from_slice(&chunk);
            }
            std::fs::write(&path, &data).expect("write the test file");
            // Read it once so it is in the page cache.
            black_box(std::fs::read(&path).expect("read the test file").len());
            path
        })
    }

    fn offsets() -> Vec<u64> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..READS)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % (FILE_LEN / 4096)) * 4096
            })
            .collect()
    }

    #[divan::bench]
    fn ringloop(b: Bencher) {
        let rt = ringloop_rt();
        let offsets = offsets();
        let file = rt.block_on(ringloop::fs::File::open(file())).unwrap();
        b.counter(ItemsCount::new(READS)).bench_local(|| {
            rt.block_on(async {
                let mut buf = Vec::with_capacity(4096);
                for &off in &offsets {
                    let (res, b) = file.read_at(buf, off).await;
                    assert_eq!(res.unwrap(), 4096);
                    buf = b;
                }
            })
        });
    }

    #[divan::bench]
    fn tokio(b: Bencher) {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let rt = tokio_rt();
        let offsets = offsets();
        let mut file = rt.block_on(tokio::fs::File::open(file())).unwrap();
        b.counter(ItemsCount::new(READS)).bench_local(|| {
            rt.block_on(async {
                let mut buf = vec![0u8; 4096];
                for &off in &offsets {
                    file.seek(std::io::SeekFrom::Start(off)).await.unwrap();
                    file.read_exact(&mut buf).await.unwrap();
                }
            })
        });
    }

    /// Blocking `pread` on the calling thread: the floor.
    #[divan::bench]
    fn std_pread(b: Bencher) {
        let offsets = offsets();
        let file = std::fs::File::open(file()).unwrap();
        let mut buf = vec![0u8; 4096];
        b.counter(ItemsCount::new(READS)).bench_local(|| {
            for &off in &offsets {
                file.read_exact_at(&mut buf, off).unwrap();
            }
        });
    }
}
