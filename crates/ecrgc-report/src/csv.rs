//! CSV that a spreadsheet opens as data, never as formulas.
//!
//! Repository names, tags, rule evidence and query results hold text that ecrgc does not
//! control; a spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (and, in some,
//! a tab or a carriage return) as a formula. Every CSV ecrgc writes (`decisions.csv`,
//! `report.csv`, `query --format csv`, `report --format csv`) goes through [`Writer`], which
//! prefixes such a text cell with a single quote `'`, as OWASP advises against CSV
//! injection. Only text columns are touched: a negative number in a numeric column stays
//! `-5`, since a number cannot carry a formula.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;

/// First characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell as a spreadsheet should show it: with `'` before a formula's first character.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_text(value),
        _ => false,
    }
}

/// `batch` with every text cell neutralised ([`neutralise_cell`]); other columns unchanged.
/// Text columns come back as `Utf8`, which the CSV reads the same.
pub fn neutralise(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_text(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !is_text(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let text = cast(column, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ArrowError::CastError(format!("column {} as text", field.name())))?;
        let safe: StringArray = text.iter().map(|cell| cell.map(neutralise_cell)).collect();
        fields.push(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        ));
        columns.push(Arc::new(safe));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// A CSV writer with a header line whose text cells are neutralised.
pub struct Writer<W: Write> {
    inner: arrow::csv::Writer<W>,
}

impl<W: Write> Writer<W> {
    /// A writer onto `out`, with a header line.
    pub fn new(out: W) -> Self {
        Self {
            inner: arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out),
        }
    }

    /// Writes the rows of `batch` (the header first, once).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        self.inner.write(&neutralise(batch)?)
    }

    /// The underlying output.
    pub fn into_inner(self) -> W {
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, Float64Array, Int64Array, StringViewArray};
    use arrow::datatypes::Int32Type;

    fn render(batch: &RecordBatch) -> String {
        let mut w = Writer::new(Vec::new());
        w.write(batch).expect("writes");
        String::from_utf8(w.into_inner()).expect("utf-8")
    }

    #[test]
    fn text_cells_that_start_a_formula_get_a_quote() {
        let batch = RecordBatch::try_from_iter([(
            "name",
            Arc::new(StringArray::from(vec![
                Some("=HYPERLINK(\"http://x\")"),
                Some("+1"),
                Some("-2+3"),
                Some("@SUM(A1)"),
                Some("\tx"),
                Some("plain"),
                Some("a=b"),
                Some(""),
                None,
            ])) as ArrayRef,
        )])
        .expect("batch");
        assert_eq!(
            render(&batch),
            "name\n\"'=HYPERLINK(\"\"http://x\"\")\"\n'+1\n'-2+3\n'@SUM(A1)\n'\tx\nplain\na=b\n\"\"\n\"\"\n"
        );
    }

    #[test]
    fn numbers_stay_numbers_and_every_text_encoding_is_covered() {
        let dict: DictionaryArray<Int32Type> = vec!["-dict", "ok"].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            ("delta", Arc::new(Int64Array::from(vec![-5, 7])) as ArrayRef),
            (
                "usd",
                Arc::new(Float64Array::from(vec![-1.5, 2.0])) as ArrayRef,
            ),
            (
                "view",
                Arc::new(StringViewArray::from(vec!["=1+1", "fine"])) as ArrayRef,
            ),
            ("dict", Arc::new(dict) as ArrayRef),
        ])
        .expect("batch");
        assert_eq!(
            render(&batch),
            "delta,usd,view,dict\n-5,-1.5,'=1+1,'-dict\n7,2.0,fine,ok\n"
        );
    }

    #[test]
    fn a_batch_without_text_is_left_as_it_is() {
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![-1])) as ArrayRef)])
                .expect("batch");
        assert_eq!(neutralise(&batch).expect("same"), batch);
    }
}
