// Arrow table -> JSON-friendly rows, on the main thread (documented in web/README.md).
//
//   BIGINT/HUGEINT/UBIGINT  Number when it is a safe integer, else a decimal string
//   DECIMAL(p,s)            string with the exact digits ("12.50")
//   DATE                    "YYYY-MM-DD"
//   TIMESTAMP[_TZ]          ISO 8601 string in UTC ("2024-01-02T03:04:05.000Z"; ms precision)
//   TIME                    "HH:MM:SS.ffffff"
//   BLOB                    lowercase hex string
//   UUID                    "f47ac10b-58cc-4372-a567-0e02b2c3d479"
//   BIT                     "0101"
//   TIME WITH TIME ZONE     "HH:MM:SS.ffffff+HH:MM"
//   LIST / STRUCT / MAP     arrays / objects, converted recursively
//   NULL                    null
import { Type, TimeUnit } from "apache-arrow";

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function bigint(v) {
  return v >= -SAFE && v <= SAFE ? Number(v) : v.toString();
}

function decimal(v, scale) {
  const digits = BigInt(v.toString?.() ?? String(v));
  if (!scale) return digits.toString();
  const negative = digits < 0n;
  const text = (negative ? -digits : digits).toString().padStart(scale + 1, "0");
  return `${negative ? "-" : ""}${text.slice(0, -scale)}.${text.slice(-scale)}`;
}

function time(v, unit) {
  const perSecond = { [TimeUnit.SECOND]: 1n, [TimeUnit.MILLISECOND]: 1000n,
                      [TimeUnit.MICROSECOND]: 1000000n, [TimeUnit.NANOSECOND]: 1000000000n }[unit];
  const total = BigInt(v);
  const seconds = total / perSecond;
  const fraction = total % perSecond;
  const pad = (n) => String(n).padStart(2, "0");
  const hms = `${pad(seconds / 3600n)}:${pad((seconds / 60n) % 60n)}:${pad(seconds % 60n)}`;
  return perSecond === 1n ? hms : `${hms}.${String(fraction).padStart(String(perSecond).length - 1, "0")}`;
}

// DuckDB's lossless Arrow (workers/duck.mjs) marks some types as extensions: the field's
// "ARROW:extension:name" (arrow.uuid, arrow.bool8) or arrow.opaque with the DuckDB type_name
// in its metadata (hugeint, uhugeint, bit, time_tz, bignum).
function extensionOf(field) {
  const name = field?.metadata?.get("ARROW:extension:name");
  if (name !== "arrow.opaque") return name?.replace(/^arrow\./, "") ?? null;
  try {
    return JSON.parse(field.metadata.get("ARROW:extension:metadata")).type_name ?? null;
  } catch {
    return null;
  }
}

function littleEndian(bytes, signed) {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  const bits = BigInt(bytes.length * 8);
  return signed && v >> (bits - 1n) ? v - (1n << bits) : v;
}

function uuid(bytes) {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// BIT: first byte = number of padding bits at the front of the next byte.
function bitString(bytes) {
  const bits = Array.from(bytes.subarray(1), (b) => b.toString(2).padStart(8, "0")).join("");
  return bits.slice(bytes[0]);
}

// TIMETZ: micros since midnight << 24 | (57599 - offset seconds).
function timeTz(bytes) {
  const v = littleEndian(bytes, false);
  const offset = 57599 - Number(v & 0xffffffn);
  const abs = Math.abs(offset);
  const pad = (n) => String(n).padStart(2, "0");
  const zone = `${offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 3600))}:${pad(Math.floor(abs / 60) % 60)}`;
  return time(v >> 24n, TimeUnit.MICROSECOND) + zone;
}

const EXTENSIONS = {
  bool8: (v) => v !== 0,
  uuid: uuid,
  hugeint: (v) => bigint(littleEndian(v, true)),
  uhugeint: (v) => bigint(littleEndian(v, false)),
  bit: bitString,
  time_tz: timeTz,
};

const EXTENSION_TYPES = { bool8: "BOOLEAN", uuid: "UUID", hugeint: "HUGEINT", uhugeint: "UHUGEINT",
                          bit: "BIT", time_tz: "TIME WITH TIME ZONE", bignum: "BIGNUM" };

/** A function converting one Arrow value of `field` to a JSON-friendly value. */
function converter(field) {
  const extension = EXTENSIONS[extensionOf(field)];
  return extension ?? typeConverter(field.type);
}

function typeConverter(type) {
  switch (type.typeId) {
    case Type.Int:
      return type.bitWidth === 64 ? (v) => bigint(v) : (v) => v;
    case Type.Decimal:
      return (v) => decimal(v, type.scale);
    case Type.Date:
      return (v) => new Date(v).toISOString().slice(0, 10);
    case Type.Timestamp:
      return (v) => new Date(v).toISOString();
    case Type.Time:
      return (v) => time(v, type.unit);
    case Type.Binary:
    case Type.LargeBinary:
    case Type.FixedSizeBinary:
      return (v) => Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
    case Type.List:
    case Type.FixedSizeList: {
      const item = converter(type.children[0]);
      return (v) => Array.from(v, (x) => (x == null ? null : item(x)));
    }
    case Type.Struct: {
      const fields = type.children.map((f) => [f.name, converter(f)]);
      return (v) => Object.fromEntries(fields.map(([name, conv]) => [name, v[name] == null ? null : conv(v[name])]));
    }
    case Type.Map: {
      const [keyField, valueField] = type.children[0].type.children;
      const key = converter(keyField);
      const value = converter(valueField);
      return (v) => Object.fromEntries([...v].map(([k, x]) => [String(key(k)), x == null ? null : value(x)]));
    }
    case Type.Interval:
    case Type.Duration:
      return (v) => (typeof v === "bigint" ? bigint(v) : ArrayBuffer.isView(v) ? Array.from(v, Number) : v);
    default:
      return (v) => (typeof v === "bigint" ? bigint(v) : v);
  }
}

/** A DuckDB-style name for an Arrow type, for column headers ("BIGINT", "DECIMAL(10,2)"). */
export function sqlTypeName(type) {
  switch (type.typeId) {
    case Type.Int:
      return { 8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT" }[type.bitWidth]
        .replace(/^/, type.isSigned ? "" : "U");
    case Type.Float:
      return type.precision === 2 ? "DOUBLE" : type.precision === 1 ? "FLOAT" : "HALF";
    case Type.Utf8:
    case Type.LargeUtf8:
      return "VARCHAR";
    case Type.Bool:
      return "BOOLEAN";
    case Type.Decimal:
      return `DECIMAL(${type.precision},${type.scale})`;
    case Type.Date:
      return "DATE";
    case Type.Timestamp:
      return type.timezone ? "TIMESTAMP WITH TIME ZONE" : "TIMESTAMP";
    case Type.Time:
      return "TIME";
    case Type.Binary:
    case Type.LargeBinary:
      return "BLOB";
    case Type.List:
      return `${fieldTypeName(type.children[0])}[]`;
    case Type.Struct:
      return `STRUCT(${type.children.map((f) => `${f.name} ${fieldTypeName(f)}`).join(", ")})`;
    case Type.Null:
      return "NULL";
    default:
      return String(type).toUpperCase();
  }
}

function fieldTypeName(field) {
  return EXTENSION_TYPES[extensionOf(field)] ?? sqlTypeName(field.type);
}

export function columnsOf(table) {
  return table.schema.fields.map((f) => ({ name: f.name, type: fieldTypeName(f), arrowType: String(f.type) }));
}

/** Rows of `table` as plain objects ("objects") or arrays in column order ("arrays"). */
export function arrowToRows(table, shape = "objects") {
  const names = table.schema.fields.map((f) => f.name);
  const columns = table.schema.fields.map((f, i) => {
    const conv = converter(f);
    return Array.from(table.getChildAt(i) ?? [], (v) => (v == null ? null : conv(v)));
  });
  const rows = new Array(table.numRows);
  for (let r = 0; r < table.numRows; r++) {
    if (shape === "arrays") {
      rows[r] = columns.map((col) => col[r]);
    } else {
      const row = {};
      for (let c = 0; c < names.length; c++) row[names[c]] = columns[c][r];
      rows[r] = row;
    }
  }
  return rows;
}

