//! `STRING_AGG(value, delimiter ORDER BY …)` with a groups accumulator.
//!
//! The decision step concatenates every rule and guard of an image in precedence order
//! (`STRING_AGG(rule_id, ',' ORDER BY rule_order, rule_id)`). DataFusion 55 runs an ordered
//! `STRING_AGG` through one boxed `ArrayAgg` accumulator per group behind its
//! `GroupsAccumulatorAdapter`: at one million images that is ~700,000 groups, and the
//! profile of `ecrgc plan` showed those aggregates alone taking about 95 of its 120 CPU
//! seconds, mostly in malloc/free (see `benches/README.md`). The SQL stays as it is (it must
//! also run in DuckDB); instead the session registers this implementation under the same
//! name. It keeps every group's values in flat, shared buffers, with the ORDER BY keys
//! encoded by arrow's row format (which compares as bytes in the requested order, nulls
//! placed as asked), and sorts once, when the groups are emitted.
//!
//! Results are those of DataFusion's own `string_agg`: NULL values are skipped, a group
//! without values is NULL, the result is `LargeUtf8`, and rows that tie on every ORDER BY key
//! keep their input order (a stable sort). Calls without ORDER BY, or with DISTINCT, are
//! passed to DataFusion's implementation unchanged.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, LargeStringArray,
    LargeStringBuilder, ListArray, ListBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::functions_aggregate::string_agg::StringAgg;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature,
};

/// The `string_agg` UDAF ecrgc registers in its sessions.
pub fn ordered_string_agg() -> AggregateUDF {
    AggregateUDF::new_from_impl(OrderedStringAgg::default())
}

/// DataFusion's `StringAgg`, with a groups accumulator for the ordered case.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct OrderedStringAgg {
    inner: StringAgg,
}

/// Whether our implementation handles a call (ordered, not DISTINCT).
fn ours(ordered: bool, distinct: bool) -> bool {
    ordered && !distinct
}

impl AggregateUDFImpl for OrderedStringAgg {
    fn name(&self) -> &str {
        "string_agg"
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if !ours(!args.ordering_fields.is_empty(), args.is_distinct) {
            return self.inner.state_fields(args);
        }
        Ok(vec![
            Field::new(
                format_state_name(args.name, "string_agg_values"),
                DataType::List(Arc::new(Field::new_list_field(DataType::LargeUtf8, true))),
                true,
            )
            .into(),
            Field::new(
                format_state_name(args.name, "string_agg_order"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Binary, true))),
                true,
            )
            .into(),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !ours(!args.order_bys.is_empty(), args.is_distinct) {
            return self.inner.accumulator(args);
        }
        Ok(Box::new(SingleGroup(Ordered::new(&args)?)))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        ours(!args.order_bys.is_empty(), args.is_distinct)
            || self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if !ours(!args.order_bys.is_empty(), args.is_distinct) {
            return self.inner.create_groups_accumulator(args);
        }
        Ok(Box::new(Ordered::new(&args)?))
    }

    // Not reversible: the accumulator sorts by the ORDER BY it was given, so a reversed
    // requirement would reverse the result. DataFusion then sorts the input instead.
}

/// One retained input: string values and their encoded ORDER BY keys, row for row.
#[derive(Debug)]
struct Chunk {
    values: LargeStringArray,
    keys: BinaryArray,
}

/// One non-null value of a group: where it is kept.
#[derive(Debug, Clone, Copy)]
struct Entry {
    group: u32,
    chunk: u32,
    row: u32,
}

/// Ordered `string_agg` over many groups.
#[derive(Debug)]
struct Ordered {
    delimiter: String,
    converter: RowConverter,
    chunks: Vec<Chunk>,
    entries: Vec<Entry>,
    /// Groups seen so far (`total_num_groups`), including those without any value.
    groups: usize,
    bytes: usize,
}

impl Ordered {
    fn new(args: &AccumulatorArgs) -> Result<Self> {
        let delimiter = match args
            .exprs
            .get(1)
            .and_then(|e| e.downcast_ref::<datafusion::physical_expr::expressions::Literal>())
        {
            Some(lit) => match lit.value() {
                v if v.is_null() => String::new(),
                v => match v.try_as_str() {
                    Some(s) => s.unwrap_or("").to_owned(),
                    None => return internal_err!("string_agg delimiter {v} is not a string"),
                },
            },
            None => return internal_err!("string_agg delimiter must be a string literal"),
        };
        let fields = args
            .order_bys
            .iter()
            .map(|o| {
                Ok(SortField::new_with_options(
                    o.expr.data_type(args.schema)?,
                    o.options,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            delimiter,
            converter: RowConverter::new(fields)?,
            chunks: Vec::new(),
            entries: Vec::new(),
            groups: 0,
            bytes: 0,
        })
    }

    fn push_chunk(&mut self, values: LargeStringArray, keys: BinaryArray) -> u32 {
        self.bytes += values.get_array_memory_size() + keys.get_array_memory_size();
        self.chunks.push(Chunk { values, keys });
        (self.chunks.len() - 1) as u32
    }

    /// Removes and returns the entries of the groups `emit_to` emits, and how many groups
    /// those are; the remaining groups are renumbered from zero.
    fn take_entries(&mut self, emit_to: EmitTo) -> (usize, Vec<Entry>) {
        let groups = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        self.groups -= groups;
        if self.groups == 0 {
            return (groups, std::mem::take(&mut self.entries));
        }
        let (taken, kept): (Vec<Entry>, Vec<Entry>) = self
            .entries
            .iter()
            .partition(|e| (e.group as usize) < groups);
        self.entries = kept
            .into_iter()
            .map(|e| Entry {
                group: e.group - groups as u32,
                ..e
            })
            .collect();
        (groups, taken)
    }

    /// Entries grouped, and within a group in ORDER BY order (ties in input order).
    fn sorted(&self, mut entries: Vec<Entry>) -> Vec<Entry> {
        let key = |e: &Entry| self.chunks[e.chunk as usize].keys.value(e.row as usize);
        entries.sort_by(|a, b| a.group.cmp(&b.group).then_with(|| key(a).cmp(key(b))));
        entries
    }

    fn value(&self, e: &Entry) -> &str {
        self.chunks[e.chunk as usize].values.value(e.row as usize)
    }

    fn key(&self, e: &Entry) -> &[u8] {
        self.chunks[e.chunk as usize].keys.value(e.row as usize)
    }
}

impl GroupsAccumulator for Ordered {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        // values: [value, delimiter, order keys…]
        let Some(value) = values.first() else {
            return internal_err!("string_agg without arguments");
        };
        let strings = cast(value, &DataType::LargeUtf8)?;
        let strings = strings.as_string::<i64>().clone();
        let keys = self
            .converter
            .convert_columns(values.get(2..).unwrap_or_default())?
            .try_into_binary()?;
        let chunk = self.push_chunk(strings, keys);
        let strings = &self.chunks[chunk as usize].values;
        for (row, &group) in group_indices.iter().enumerate() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if selected && strings.is_valid(row) {
                self.entries.push(Entry {
                    group: group as u32,
                    chunk,
                    row: row as u32,
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (groups, entries) = self.take_entries(emit_to);
        let entries = self.sorted(entries);
        let mut out = LargeStringBuilder::with_capacity(groups, 0);
        let mut text = String::new();
        let mut next = entries.iter().peekable();
        for group in 0..groups as u32 {
            let mut any = false;
            text.clear();
            while let Some(e) = next.next_if(|e| e.group == group) {
                if any {
                    text.push_str(&self.delimiter);
                }
                text.push_str(self.value(e));
                any = true;
            }
            if any {
                out.append_value(&text);
            } else {
                out.append_null();
            }
        }
        self.release_if_empty();
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (groups, entries) = self.take_entries(emit_to);
        let entries = self.sorted(entries);
        let mut values = ListBuilder::new(LargeStringBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::LargeUtf8, true)));
        let mut keys = ListBuilder::new(BinaryBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Binary, true)));
        let mut next = entries.iter().peekable();
        for group in 0..groups as u32 {
            while let Some(e) = next.next_if(|e| e.group == group) {
                values.values().append_value(self.value(e));
                keys.values().append_value(self.key(e));
            }
            values.append(true);
            keys.append(true);
        }
        self.release_if_empty();
        Ok(vec![Arc::new(values.finish()), Arc::new(keys.finish())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        let [lists, key_lists] = values else {
            return internal_err!("string_agg state has {} columns, not 2", values.len());
        };
        let lists: &ListArray = lists.as_list::<i32>();
        let key_lists: &ListArray = key_lists.as_list::<i32>();
        // Keep only the part of the child arrays the lists cover.
        let start = lists.value_offsets()[0] as usize;
        let end = lists.value_offsets()[lists.len()] as usize;
        let strings = cast(
            &lists.values().slice(start, end - start),
            &DataType::LargeUtf8,
        )?;
        let key_start = key_lists.value_offsets()[0] as usize;
        let keys = key_lists.values().slice(key_start, end - start);
        let chunk = self.push_chunk(
            strings.as_string::<i64>().clone(),
            keys.as_binary::<i32>().clone(),
        );
        for (i, &group) in group_indices.iter().enumerate() {
            if lists.is_null(i) {
                continue;
            }
            let (from, to) = (
                lists.value_offsets()[i] as usize - start,
                lists.value_offsets()[i + 1] as usize - start,
            );
            if key_lists.value_length(i) as usize != to - from {
                return internal_err!("string_agg state lists differ in length");
            }
            for row in from..to {
                self.entries.push(Entry {
                    group: group as u32,
                    chunk,
                    row: row as u32,
                });
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // One state per input row: a one-element list, or an empty one for a NULL value or
        // a filtered-out row (which merge as nothing).
        let Some(value) = values.first() else {
            return internal_err!("string_agg without arguments");
        };
        let strings = cast(value, &DataType::LargeUtf8)?;
        let strings = strings.as_string::<i64>();
        let keys = self
            .converter
            .convert_columns(values.get(2..).unwrap_or_default())?;
        let mut out_values = ListBuilder::new(LargeStringBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::LargeUtf8, true)));
        let mut out_keys = ListBuilder::new(BinaryBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Binary, true)));
        for row in 0..strings.len() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if selected && strings.is_valid(row) {
                out_values.values().append_value(strings.value(row));
                out_keys.values().append_value(keys.row(row).as_ref());
            }
            out_values.append(true);
            out_keys.append(true);
        }
        Ok(vec![
            Arc::new(out_values.finish()),
            Arc::new(out_keys.finish()),
        ])
    }

    fn size(&self) -> usize {
        self.bytes
            + self.entries.capacity() * size_of::<Entry>()
            + self.chunks.capacity() * size_of::<Chunk>()
            + self.converter.size()
    }
}

impl Ordered {
    /// Drops retained inputs once no entry refers to them.
    fn release_if_empty(&mut self) {
        if self.entries.is_empty() {
            self.chunks.clear();
            self.bytes = 0;
        }
    }
}

/// The same accumulator for an aggregate without GROUP BY: one group, number 0.
#[derive(Debug)]
struct SingleGroup(Ordered);

impl Accumulator for SingleGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.groups = 1;
        ScalarValue::try_from_array(&self.0.evaluate(EmitTo::All)?, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // Drains the accumulator: an aggregate without GROUP BY asks for it once, at the end.
        self.0.groups = 1;
        self.0
            .state(EmitTo::All)?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::context::SessionContext;
    use datafusion::prelude::SessionConfig;

    use super::*;

    /// Rows as text, for comparing two sessions.
    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx
            .sql(sql)
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .expect("formats")
            .to_string();
        text.lines().map(str::to_owned).collect()
    }

    async fn session(ours: bool, partitions: usize) -> SessionContext {
        let config = SessionConfig::new()
            .with_target_partitions(partitions)
            .with_batch_size(7);
        let ctx = SessionContext::new_with_config(config);
        if ours {
            ctx.register_udaf(ordered_string_agg());
        }
        // 600 rows over 50 groups, in several small batches: values with NULLs, order keys
        // with NULLs and ties, so that merging partial states and stable ties matter.
        ctx.sql(
            "CREATE TABLE t AS SELECT \
               CAST(v % 50 AS VARCHAR) AS g, \
               CASE WHEN v % 11 = 0 THEN NULL ELSE 'v' || CAST(v AS VARCHAR) END AS s, \
               CASE WHEN v % 13 = 0 THEN NULL ELSE (v * 7) % 5 END AS k1, \
               CAST((v * 3) % 4 AS VARCHAR) AS k2 \
             FROM (SELECT value AS v FROM generate_series(1, 600)) x",
        )
        .await
        .expect("creates")
        .collect()
        .await
        .expect("runs");
        ctx
    }

    #[tokio::test]
    async fn matches_datafusion_string_agg() {
        let queries = [
            // The decision step's shape: ORDER BY an integer then a string.
            "SELECT g, STRING_AGG(s, ',' ORDER BY k1, k2, s) AS a FROM t GROUP BY g ORDER BY g",
            "SELECT g, STRING_AGG(k2 || ': ' || s, '; ' ORDER BY k1 DESC NULLS FIRST, k2, s) AS a \
             FROM t GROUP BY g ORDER BY g",
            "SELECT g, STRING_AGG(s, '' ORDER BY s DESC) AS a FROM t GROUP BY g ORDER BY g",
            // Groups whose every value is NULL, or filtered away, are NULL.
            "SELECT g, STRING_AGG(CASE WHEN k1 = 0 THEN s END, ',' ORDER BY s) AS a \
             FROM t GROUP BY g ORDER BY g",
            "SELECT g, STRING_AGG(s, ',' ORDER BY s) FILTER (WHERE k1 > 2) AS a \
             FROM t GROUP BY g ORDER BY g",
            // No GROUP BY, and an empty input.
            "SELECT STRING_AGG(s, ',' ORDER BY k1, k2, s) AS a FROM t",
            "SELECT STRING_AGG(s, ',' ORDER BY s) AS a FROM t WHERE g = 'none'",
            "SELECT g, STRING_AGG(s, ',' ORDER BY s) AS a FROM t WHERE g = 'none' GROUP BY g",
        ];
        for partitions in [1, 3] {
            let (theirs, ours) = (
                session(false, partitions).await,
                session(true, partitions).await,
            );
            for sql in queries {
                assert_eq!(
                    rows(&ours, sql).await,
                    rows(&theirs, sql).await,
                    "{sql} ({partitions} partitions)"
                );
            }
        }
    }

    #[tokio::test]
    async fn high_cardinality_skips_partial_aggregation_correctly() {
        // One group per row: DataFusion stops partial aggregation and converts rows straight
        // into states (`convert_to_state`).
        let sql = "SELECT CAST(v AS VARCHAR) AS g, STRING_AGG(CAST(v AS VARCHAR), ',' ORDER BY v) AS a \
                   FROM (SELECT value AS v FROM generate_series(1, 300000)) x GROUP BY v ORDER BY v LIMIT 5 OFFSET 123456";
        let config = SessionConfig::new().with_target_partitions(2);
        let (theirs, ours) = (
            SessionContext::new_with_config(config.clone()),
            SessionContext::new_with_config(config),
        );
        ours.register_udaf(ordered_string_agg());
        assert_eq!(rows(&ours, sql).await, rows(&theirs, sql).await);
    }
}
