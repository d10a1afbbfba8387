//! Where collected rows go: per-unit builders flushed into one channel that a single task
//! drains into the run writer, so memory stays bounded however large the organization is.

use arrow::record_batch::RecordBatch;
use ecrgc_model::time::Micros;
use ecrgc_model::{
    ImageLayersBuilder, ImageRelationsBuilder, ImageTagsBuilder, ImagesBuilder,
    InspectorConfigurationBuilder, InspectorCoverageBuilder, ManifestReadsBuilder,
    PullThroughCacheRulesBuilder, ReplicationRulesBuilder, RepositoriesBuilder,
    RepositoryCreationTemplatesBuilder, RepositoryPullersBuilder, RepositoryTagsBuilder,
    WorkloadRefsBuilder,
};
use ecrgc_store::RunWriter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Rows a unit buffers before it hands its batches to the writer.
pub(crate) const FLUSH_ROWS: usize = 8192;

/// Batches in flight between the collectors and the writer.
const CHANNEL_DEPTH: usize = 16;

/// The writer could not take more rows: the run cannot be completed.
#[derive(Debug)]
pub(crate) struct SinkClosed;

/// The sending half, cloned into every unit.
#[derive(Clone)]
pub(crate) struct Sink {
    sender: mpsc::Sender<(&'static str, RecordBatch)>,
}

impl Sink {
    /// Starts the task that owns `run` and writes every batch sent; joining the handle gives
    /// the writer back (or the store error that stopped it).
    pub(crate) fn start(
        mut run: RunWriter,
    ) -> (Self, JoinHandle<Result<RunWriter, ecrgc_store::StoreError>>) {
        let (sender, mut receiver) = mpsc::channel::<(&'static str, RecordBatch)>(CHANNEL_DEPTH);
        let handle = tokio::spawn(async move {
            while let Some((table, batch)) = receiver.recv().await {
                run.write(table, batch).await?;
            }
            Ok(run)
        });
        (Self { sender }, handle)
    }

    pub(crate) async fn send(
        &self,
        table: &'static str,
        batch: RecordBatch,
    ) -> Result<(), SinkClosed> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.sender
            .send((table, batch))
            .await
            .map_err(|_| SinkClosed)
    }
}

/// The builders of one unit of work.
pub(crate) struct Tables {
    pub repositories: RepositoriesBuilder,
    pub repository_tags: RepositoryTagsBuilder,
    pub repository_pullers: RepositoryPullersBuilder,
    pub images: ImagesBuilder,
    pub image_tags: ImageTagsBuilder,
    pub image_relations: ImageRelationsBuilder,
    pub image_layers: ImageLayersBuilder,
    pub manifest_reads: ManifestReadsBuilder,
    pub coverage: InspectorCoverageBuilder,
    pub inspector_configuration: InspectorConfigurationBuilder,
    pub refs: WorkloadRefsBuilder,
    pub replication_rules: ReplicationRulesBuilder,
    pub pull_through_rules: PullThroughCacheRulesBuilder,
    pub creation_templates: RepositoryCreationTemplatesBuilder,
}

impl Tables {
    pub(crate) fn new(run_id: &str, now: Micros) -> Self {
        let cap = 256;
        Self {
            repositories: RepositoriesBuilder::new(run_id, now, cap),
            repository_tags: RepositoryTagsBuilder::new(run_id, now, cap),
            repository_pullers: RepositoryPullersBuilder::new(run_id, now, cap),
            images: ImagesBuilder::new(run_id, now, cap),
            image_tags: ImageTagsBuilder::new(run_id, now, cap),
            image_relations: ImageRelationsBuilder::new(run_id, now, cap),
            image_layers: ImageLayersBuilder::new(run_id, now, cap),
            manifest_reads: ManifestReadsBuilder::new(run_id, now, cap),
            coverage: InspectorCoverageBuilder::new(run_id, now, cap),
            inspector_configuration: InspectorConfigurationBuilder::new(run_id, now, 1),
            refs: WorkloadRefsBuilder::new(run_id, now, cap),
            replication_rules: ReplicationRulesBuilder::new(run_id, now, 8),
            pull_through_rules: PullThroughCacheRulesBuilder::new(run_id, now, 8),
            creation_templates: RepositoryCreationTemplatesBuilder::new(run_id, now, 8),
        }
    }

    fn largest(&self) -> usize {
        [
            self.repositories.len(),
            self.repository_tags.len(),
            self.repository_pullers.len(),
            self.images.len(),
            self.image_tags.len(),
            self.image_relations.len(),
            self.image_layers.len(),
            self.manifest_reads.len(),
            self.coverage.len(),
            self.refs.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Flushes when a builder has grown past [`FLUSH_ROWS`].
    pub(crate) async fn maybe_flush(&mut self, sink: &Sink) -> Result<(), SinkClosed> {
        if self.largest() >= FLUSH_ROWS {
            self.flush(sink).await?;
        }
        Ok(())
    }

    pub(crate) async fn flush(&mut self, sink: &Sink) -> Result<(), SinkClosed> {
        sink.send(RepositoriesBuilder::NAME, self.repositories.finish())
            .await?;
        sink.send(RepositoryTagsBuilder::NAME, self.repository_tags.finish())
            .await?;
        sink.send(
            RepositoryPullersBuilder::NAME,
            self.repository_pullers.finish(),
        )
        .await?;
        sink.send(ImagesBuilder::NAME, self.images.finish()).await?;
        sink.send(ImageTagsBuilder::NAME, self.image_tags.finish())
            .await?;
        sink.send(ImageRelationsBuilder::NAME, self.image_relations.finish())
            .await?;
        sink.send(ImageLayersBuilder::NAME, self.image_layers.finish())
            .await?;
        sink.send(ManifestReadsBuilder::NAME, self.manifest_reads.finish())
            .await?;
        sink.send(InspectorCoverageBuilder::NAME, self.coverage.finish())
            .await?;
        sink.send(
            InspectorConfigurationBuilder::NAME,
            self.inspector_configuration.finish(),
        )
        .await?;
        sink.send(WorkloadRefsBuilder::NAME, self.refs.finish())
            .await?;
        sink.send(
            ReplicationRulesBuilder::NAME,
            self.replication_rules.finish(),
        )
        .await?;
        sink.send(
            PullThroughCacheRulesBuilder::NAME,
            self.pull_through_rules.finish(),
        )
        .await?;
        sink.send(
            RepositoryCreationTemplatesBuilder::NAME,
            self.creation_templates.finish(),
        )
        .await?;
        Ok(())
    }
}
