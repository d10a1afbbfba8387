//! Typed access to the columns of a decision batch, whatever string or timestamp layout the
//! engine chose (`Utf8` or `Utf8View`, any time zone).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};

use crate::{ReportError, Result};

/// One batch of decision rows with columns looked up by name.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    /// Wraps a batch.
    pub fn new(batch: &'a RecordBatch) -> Self {
        Self { batch }
    }

    fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| ReportError::MissingColumn(name.into()))
    }

    /// A string column.
    pub fn text(&self, name: &str) -> Result<StringArray> {
        let c = cast(self.column(name)?, &DataType::Utf8)?;
        Ok(c.as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8 yields a StringArray")
            .clone())
    }

    /// An integer column.
    pub fn int(&self, name: &str) -> Result<Int64Array> {
        let c = cast(self.column(name)?, &DataType::Int64)?;
        Ok(c.as_any()
            .downcast_ref::<Int64Array>()
            .expect("cast to Int64 yields an Int64Array")
            .clone())
    }

    /// A timestamp column in microseconds.
    pub fn time(&self, name: &str) -> Result<TimestampMicrosecondArray> {
        let c = cast(
            self.column(name)?,
            &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        )?;
        Ok(c.as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("cast to timestamp yields a TimestampMicrosecondArray")
            .clone())
    }
}

/// The value at `i`, or `None` when null.
pub fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// The value at `i`, or `None` when null.
pub fn opt_i64(a: &Int64Array, i: usize) -> Option<i64> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// The timestamp at `i`, or `None` when null.
pub fn opt_time(a: &TimestampMicrosecondArray, i: usize) -> Option<i64> {
    (!a.is_null(i)).then(|| a.value(i))
}
