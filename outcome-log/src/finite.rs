//! Whether a value's every float is finite, found by walking its `Serialize` impl without
//! writing anything.
//!
//! `serde_json` writes a non-finite float as `null`, the one way its output can fail to read
//! back as the type that wrote it (a plain `f64` field cannot be `null`). A row whose floats
//! are all finite therefore reads back, and the writer can skip parsing its JSON again; only a
//! row with a non-finite float pays the full round trip that decides.

use std::fmt;

use serde::ser::{self, Serialize};

/// True when every `f32`/`f64` in `value` is finite.
pub fn all_finite<T: Serialize + ?Sized>(value: &T) -> bool {
    value.serialize(Check).is_ok()
}

/// Why the walk stopped: a non-finite float, or whatever a `Serialize` impl reported.
#[derive(Debug)]
pub struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("non-finite float")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Stop
    }
}

/// The walking serializer: accepts everything, stops at the first non-finite float.
struct Check;

type R = Result<(), Stop>;

impl ser::Serializer for Check {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Check;
    type SerializeTuple = Check;
    type SerializeTupleStruct = Check;
    type SerializeTupleVariant = Check;
    type SerializeMap = Check;
    type SerializeStruct = Check;
    type SerializeStructVariant = Check;

    fn serialize_bool(self, _: bool) -> R {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> R {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> R {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> R {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> R {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> R {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> R {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> R {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> R {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> R {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> R {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> R {
        if v.is_finite() {
            Ok(())
        } else {
            Err(Stop)
        }
    }
    fn serialize_f64(self, v: f64) -> R {
        if v.is_finite() {
            Ok(())
        } else {
            Err(Stop)
        }
    }
    fn serialize_char(self, _: char) -> R {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> R {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> R {
        Ok(())
    }
    fn serialize_none(self) -> R {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(Check)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> R {
        value.serialize(Check)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> R {
        value.serialize(Check)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Check, Stop> {
        Ok(Check)
    }
    fn serialize_tuple(self, _: usize) -> Result<Check, Stop> {
        Ok(Check)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Check, Stop> {
        Ok(Check)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Check, Stop> {
        Ok(Check)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Check, Stop> {
        Ok(Check)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Check, Stop> {
        Ok(Check)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Check, Stop> {
        Ok(Check)
    }
}

impl ser::SerializeSeq for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTuple for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeMap for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        key.serialize(Check)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStruct for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Check {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> R {
        value.serialize(Check)
    }
    fn end(self) -> R {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Row {
        a: f64,
        b: Option<f64>,
        c: Vec<(String, f32)>,
        d: BTreeMap<String, f64>,
    }

    fn row() -> Row {
        Row {
            a: 1.5,
            b: Some(2.0),
            c: vec![("x".to_owned(), 0.25)],
            d: BTreeMap::from([("k".to_owned(), -3.0)]),
        }
    }

    #[test]
    fn finds_a_non_finite_float_anywhere() {
        assert!(all_finite(&row()));
        assert!(!all_finite(&Row {
            a: f64::NAN,
            ..row()
        }));
        assert!(!all_finite(&Row {
            b: Some(f64::INFINITY),
            ..row()
        }));
        assert!(!all_finite(&Row {
            c: vec![("x".to_owned(), f32::NEG_INFINITY)],
            ..row()
        }));
        assert!(!all_finite(&Row {
            d: BTreeMap::from([("k".to_owned(), f64::NAN)]),
            ..row()
        }));
    }
}
