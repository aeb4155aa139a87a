//! What a checkpoint commit costs in steady state, in the file store: the whole cursor (every id
//! published within the lateness horizon: sorted, encoded, written, fsynced, renamed) against a
//! delta (the ids of one window, appended to the journal and fsynced). Run: `cargo bench --bench
//! checkpoint`.
//!
//! A stream at 100 records/s with `polling.lateness: 2h` holds ~800,000 ids within its horizon
//! (lateness + reconcile_every + slack) and commits once per window, every `polling.interval`
//! (30 s: 3,000 records). Before the journal every commit wrote the whole cursor.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entrastream::checkpoint::FileStore;
use entrastream::clock::Timestamp;
use entrastream::graph::cursor::{Cursor, CursorDelta, IdHash, SeenIds};
use entrastream::stream::StreamKind;

const HELD: usize = 800_000;
const WINDOW: usize = 3_000;

fn ids(count: usize, salt: &str) -> SeenIds {
    let mut ids = SeenIds::default();
    let start = Timestamp::from_secs(1_800_000_000);
    for number in 0..count {
        ids.insert(
            IdHash::of(&format!("{salt}-{number}")),
            start.saturating_add(Duration::from_millis(number as u64 * 10)),
        );
    }
    ids
}

fn bench(criterion: &mut Criterion) {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = FileStore::new(directory.path());
    let mut cursor = Cursor::start(
        Timestamp::from_secs(1_800_000_000),
        Timestamp::from_secs(1_800_008_000),
    );
    cursor.seen = ids(HELD, "held");
    let window = ids(WINDOW, "window");
    let delta = CursorDelta {
        watermark: cursor.watermark.saturating_add(Duration::from_secs(30)),
        origin: cursor.origin,
        last_reconcile_started: cursor.last_reconcile_started,
        reconcile: None,
        forget_before: cursor.origin,
        added: window,
    };
    let tenant = &entrastream::config::TenantId::parse("00000000-0000-0000-0000-000000000001")
        .expect("a GUID");
    let stream = StreamKind::SignInsNonInteractive;

    // per record of the window each commit publishes
    let mut group = criterion.benchmark_group("checkpoint_commit_per_window");
    group.throughput(Throughput::Elements(WINDOW as u64));
    group.sample_size(10);
    group.bench_function(
        "whole cursor, 800,000 ids held (every commit before the journal)",
        |bencher| {
            bencher.iter(|| {
                store
                    .commit_now(tenant, stream, black_box(&cursor))
                    .expect("commits")
            })
        },
    );
    group.bench_function(
        "delta, the window's 3,000 ids appended to the journal",
        |bencher| {
            // a whole cursor every 250 appends keeps the journal as long as a run would (the
            // pipeline replaces it once it holds as many ids as the cursor); that write is not timed
            bencher.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for iteration in 0..iterations {
                    if iteration % 250 == 0 {
                        store.commit_now(tenant, stream, &cursor).expect("commits");
                    }
                    let started = std::time::Instant::now();
                    store
                        .append_now(tenant, stream, black_box(&delta))
                        .expect("appends");
                    timed += started.elapsed();
                }
                timed
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
