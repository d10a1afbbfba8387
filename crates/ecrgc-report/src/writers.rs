//! The decision rows' writers, each on a thread of its own.
//!
//! A plan streams its decision rows once and writes three things from them: `decisions.csv`,
//! `decisions.parquet`, and the summary with the manifest's items. Encoding CSV, compressing
//! Parquet and hashing manifest items each cost about as much as deciding, so each writer
//! runs beside the others and beside the decision stream, which hands every batch to all of
//! them (a batch is shared, not copied). A bounded queue per writer keeps memory flat: when a
//! writer falls behind, the stream waits for it.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;

use crate::{ReportError, Result};

/// Batches a writer may have queued before the decision stream waits for it.
const QUEUED_BATCHES: usize = 4;

/// One writer's thread and the queue that feeds it.
pub(crate) struct Writer<T> {
    name: &'static str,
    queue: Option<SyncSender<RecordBatch>>,
    thread: JoinHandle<Result<T>>,
}

impl<T: Send + 'static> Writer<T> {
    /// Starts `write` on a thread of its own; it reads batches until the queue closes and
    /// returns what it made. `name` is the file it writes, for an error.
    pub(crate) fn spawn(
        name: &'static str,
        write: impl FnOnce(Receiver<RecordBatch>) -> Result<T> + Send + 'static,
    ) -> Result<Self> {
        let (queue, batches) = sync_channel(QUEUED_BATCHES);
        let thread = std::thread::Builder::new()
            .name(format!("write {name}"))
            .spawn(move || write(batches))
            .map_err(|source| ReportError::Io {
                path: name.to_owned(),
                source,
            })?;
        Ok(Self {
            name,
            queue: Some(queue),
            thread,
        })
    }

    /// Queues a batch; false when the writer has stopped (its error comes from
    /// [`Writer::finish`]).
    pub(crate) fn send(&self, batch: &RecordBatch) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| q.send(batch.clone()).is_ok())
    }

    /// Closes the queue and waits for the writer's result.
    pub(crate) fn finish(mut self) -> Result<T> {
        drop(self.queue.take());
        self.thread
            .join()
            .map_err(|_| ReportError::WriterStopped(self.name.to_owned()))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![n]))]).expect("batch")
    }

    #[test]
    fn every_writer_sees_every_batch_in_order() {
        let sum = |rx: Receiver<RecordBatch>| -> Result<Vec<i64>> {
            Ok(rx
                .iter()
                .map(|b| {
                    let a = b.column(0).as_any().downcast_ref::<Int64Array>();
                    a.map_or(-1, |a| a.value(0))
                })
                .collect())
        };
        let (a, b) = (
            Writer::spawn("a", sum).expect("a"),
            Writer::spawn("b", sum).expect("b"),
        );
        for n in 0..100 {
            assert!(a.send(&batch(n)) && b.send(&batch(n)));
        }
        let expected: Vec<i64> = (0..100).collect();
        assert_eq!(a.finish().expect("a"), expected);
        assert_eq!(b.finish().expect("b"), expected);
    }

    #[test]
    fn a_failed_writer_stops_taking_batches_and_reports_its_error() {
        let failing = Writer::spawn("bad.csv", |rx: Receiver<RecordBatch>| -> Result<()> {
            let _ = rx.recv();
            Err(ReportError::MissingColumn("x".into()))
        })
        .expect("spawns");
        let mut refused = false;
        for n in 0..100 {
            if !failing.send(&batch(n)) {
                refused = true;
                break;
            }
        }
        assert!(refused, "a stopped writer must refuse batches");
        let err = failing.finish().expect_err("fails");
        assert!(err.to_string().contains("\"x\""), "{err}");
    }

    #[test]
    fn a_panicking_writer_is_named() {
        let panicking = Writer::spawn("manifest.json", |_: Receiver<RecordBatch>| -> Result<()> {
            panic!("boom")
        })
        .expect("spawns");
        let err = panicking.finish().expect_err("panicked");
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }
}
