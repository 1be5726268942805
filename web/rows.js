// Arrow table -> JSON-friendly rows, on the main thread (documented in web/README.md).
//
//   BIGINT/HUGEINT/UBIGINT  Number when it is a safe integer, else a decimal string
//   DECIMAL(p,s)            string with the exact digits ("12.50")
//   DATE                    "YYYY-MM-DD" ("infinity", "-infinity"; "+YYYYYY-…" beyond year 9999)
//   TIMESTAMP[_TZ]          ISO 8601 string in UTC ("2024-01-02T03:04:05.000Z"; ms precision;
//                           "infinity"/"-infinity"; "+YYYYYY-…" beyond year 9999)
//   TIME                    "HH:MM:SS.ffffff"
//   BLOB                    lowercase hex string
//   UUID                    "f47ac10b-58cc-4372-a567-0e02b2c3d479"
//   FLOAT/DOUBLE            Number, NaN and ±Infinity included
//   BIT, INTERVAL, TIMETZ   DuckDB's text ("0101", "1 year 2 months 3 days 04:05:06", "12:00:00+05:30"),
//                           nested ones too (the worker selects them as text: query_types)
//   LIST / STRUCT           arrays / objects (struct fields in order), converted recursively
//   MAP                     [{key, value}, ...] in the map's order (keys keep their type)
//   NULL                    null
// With DuckDB's column types (the local worker sends them: ducksync.worker.query_types)
// columns carry DuckDB's type names and are decoded by them (ENUM, UUID, HUGEINT...).
import { Type, TimeUnit, makeVector } from "apache-arrow";

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

/** A function converting one Arrow value of `field` to a JSON-friendly value (LIST, STRUCT
 * and MAP are decoded column by column instead: `column`). */
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

/** Columns of `table`: DuckDB's type names when given (`types`, from the worker). */
export function columnsOf(table, types = null) {
  return table.schema.fields.map((f, i) => ({ name: f.name, type: types?.[i] ?? fieldTypeName(f),
                                               arrowType: String(f.type) }));
}

// DuckDB types decoded by their DuckDB name (their Arrow form says less).
const BY_DUCKDB_TYPE = {
  HUGEINT: (v) => bigint(BigInt(decimal(v, 0))), // arrives as DECIMAL(38,0)
};

const pad = (n, w = 2) => String(n).padStart(w, "0");
const MAX_DATE_MS = 8.64e15; // what a JS Date holds
const INT64_MAX = (1n << 63n) - 1n;
const INT32_MAX = 2 ** 31 - 1;

// Days since 1970-01-01 -> [year, month, day], proleptic Gregorian, any year (H. Hinnant).
function civil(days) {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, doy - Math.floor((153 * mp + 2) / 5) + 1];
}

const isoYear = (y) => (y >= 0 && y <= 9999 ? pad(y, 4) : `${y < 0 ? "-" : "+"}${pad(Math.abs(y), 6)}`);
const isoDate = (days) => { const [y, m, d] = civil(days); return `${isoYear(y)}-${pad(m)}-${pad(d)}`; };

function dateValue(days) {
  if (days === INT32_MAX) return "infinity";
  if (days === -INT32_MAX) return "-infinity";
  return isoDate(days);
}

const PER_SECOND = { [TimeUnit.SECOND]: 1n, [TimeUnit.MILLISECOND]: 1000n,
                     [TimeUnit.MICROSECOND]: 1000000n, [TimeUnit.NANOSECOND]: 1000000000n };

function timestampValue(raw, unit) {
  const v = BigInt(raw);
  if (v === INT64_MAX) return "infinity";
  if (v === -INT64_MAX) return "-infinity";
  const perSecond = PER_SECOND[unit];
  const ms = (v * 1000n) / perSecond - ((v * 1000n) % perSecond < 0n ? 1n : 0n); // floor
  if (ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS) return new Date(Number(ms)).toISOString();
  const msPerDay = 86400000n;
  let days = ms / msPerDay;
  let rest = ms % msPerDay;
  if (rest < 0n) { rest += msPerDay; days -= 1n; }
  const r = Number(rest);
  return `${isoDate(Number(days))}T${pad(Math.floor(r / 3600000))}:${pad(Math.floor(r / 60000) % 60)}:` +
    `${pad(Math.floor(r / 1000) % 60)}.${pad(r % 1000, 3)}Z`;
}

// DATE/TIMESTAMP columns are read from their raw integers, at any depth: Arrow's own
// getters throw for values beyond a JS Date (DuckDB's infinity, year 294247).
function rawColumn(vector, convert) {
  const out = new Array(vector.length);
  let k = 0;
  for (const data of vector.data) {
    for (let i = 0; i < data.length; i++) {
      out[k++] = data.getValid(i) ? convert(data.values[i]) : null;
    }
  }
  return out;
}

function column(vector, field, duckType) {
  if (!vector) return [];
  const { type } = field;
  if (type.typeId === Type.Timestamp && !extensionOf(field)) {
    return rawColumn(vector, (v) => timestampValue(v, type.unit));
  }
  if (type.typeId === Type.Date && type.unit === 0 /* DateUnit.DAY */) {
    return rawColumn(vector, (v) => dateValue(v));
  }
  // Nested values are decoded as columns are, so a DATE/TIMESTAMP inside keeps the raw path.
  if (type.typeId === Type.Struct && !extensionOf(field)) {
    const fields = type.children.map((f, j) => [f.name, column(vector.getChildAt(j), f)]);
    return Array.from({ length: vector.length }, (_, r) => (vector.isValid(r)
      ? Object.fromEntries(fields.map(([name, values]) => [name, values[r] ?? null])) : null));
  }
  if ((type.typeId === Type.List || type.typeId === Type.FixedSizeList) && !extensionOf(field)) {
    const item = type.children[0];
    return Array.from(vector, (v) => (v == null ? null : column(v, item)));
  }
  if (type.typeId === Type.Map && !extensionOf(field)) return mapColumn(vector, type);
  const conv = BY_DUCKDB_TYPE[duckType] ?? converter(field);
  return Array.from(vector, (v) => (v == null ? null : conv(v)));
}

// MAP: [{key, value}, ...] in the map's order; its keys and values decoded as columns.
function mapColumn(vector, type) {
  const [keyField, valueField] = type.children[0].type.children;
  const out = [];
  for (const data of vector.data) {
    const entries = makeVector(data.children[0]);
    const keys = column(entries.getChildAt(0), keyField);
    const values = column(entries.getChildAt(1), valueField);
    for (let i = 0; i < data.length; i++) {
      if (!data.getValid(i)) { out.push(null); continue; }
      const row = [];
      for (let e = data.valueOffsets[i]; e < data.valueOffsets[i + 1]; e++) {
        row.push({ key: keys[e] ?? null, value: values[e] ?? null });
      }
      out.push(row);
    }
  }
  return out;
}

/** Rows of `table` as plain objects ("objects") or arrays in column order ("arrays");
 * `types`: DuckDB's column types (decoded by them where their Arrow form says less). */
export function arrowToRows(table, shape = "objects", types = null) {
  const names = table.schema.fields.map((f) => f.name);
  const columns = table.schema.fields.map((f, i) => column(table.getChildAt(i), f, types?.[i]));
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

