// The console's result grid: a bounded, scrolling table that draws only the rows in view
// and fetches the pages it needs from the local worker (a 1M-row result costs one page
// of DOM and of memory, not a million rows). Sticky header with DuckDB's type names,
// NULL drawn apart from the text 'NULL', TIMESTAMPTZ (nested ones too) in the viewer's
// time zone.
export const ROW_HEIGHT = 22; // px, fixed (app.css): the scroll position maps to a row
const OVERSCAN = 10;
export const PAGE_ROWS = 200; // rows per page fetched from the worker (the first comes with the run)
// Browsers cap an element's height (Chromium: ~33.5M px): past this, a pixel of scroll
// stands for more than one row's worth (rows are still drawn at ROW_HEIGHT).
const MAX_SCROLL_PX = 15_000_000;
const KEPT_PAGES = 24;
const NUMERIC = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL|DECIMAL|BIGNUM|VARINT)/;
const TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE";

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** DuckDB's UTC text of a TIMESTAMPTZ ("2024-01-02 03:04:05.5+00") in the viewer's time
 * zone, as DuckDB prints it with that TimeZone set ("2024-01-02 04:04:05.5+01"); text
 * outside what a JS Date holds (infinity, far years, BC) is left as DuckDB gave it. */
export function localTimestamp(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?\+00$/.exec(text ?? "");
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac = ""] = m;
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const local = new Date(t);
  if (Number.isNaN(t) || local.getFullYear() < 1 || local.getFullYear() > 9999) return text;
  const offset = -local.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  const zone = `${sign}${pad(Math.floor(abs / 60))}${abs % 60 ? `:${pad(abs % 60)}` : ""}`;
  return `${pad(local.getFullYear(), 4)}-${pad(local.getMonth() + 1)}-${pad(local.getDate())} ` +
    `${pad(local.getHours())}:${pad(local.getMinutes())}:${pad(local.getSeconds())}${frac}${zone}`;
}

// A TIMESTAMPTZ inside a LIST/STRUCT/MAP: DuckDB prints it quoted, in UTC.
const NESTED_TIMESTAMPTZ = /'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\+00)'/g;

/** A nested value's text with each TIMESTAMPTZ in it in the viewer's time zone, as DuckDB
 * prints it with that TimeZone set. A VARCHAR inside the same value that reads exactly
 * like one ('2024-01-02 03:04:05+00', quotes included) is shifted too: the text alone
 * cannot tell them apart. */
export function localTimestamps(text) {
  return text == null ? text : text.replace(NESTED_TIMESTAMPTZ, (_, t) => `'${localTimestamp(t)}'`);
}

export class Grid {
  constructor(container, fetchPage) {
    this.container = container;
    this.fetchPage = fetchPage;
    this.pageRows = PAGE_ROWS;
    this.columns = [];
    this.pages = new Map(); // page index -> rows (arrays of text or null)
    this.loading = new Map();
    this.generation = 0;
  }

  clear() {
    this.generation++;
    this.columns = [];
    this.pages.clear();
    this.container.replaceChildren();
    delete this.container.dataset.total;
    this.container.dataset.fetched = "0"; // pages asked of the worker for this result
  }

  /** Show a console result ({kind, columns, total, rows}); rows beyond the first page are fetched as needed. */
  show(reply) {
    this.clear();
    this.columns = reply.columns;
    this.total = reply.total;
    this.raw = reply.kind === "raw";
    const first = this.raw ? reply.rows.map((r) => r.map((v) => this.text(v))) : reply.rows;
    // a raw answer is one page, whole; a table result comes in pages of PAGE_ROWS
    this.pageRows = this.raw ? Math.max(1, reply.rows.length) : PAGE_ROWS;
    this.pages.set(0, first);
    this.formats = this.columns.map((c) => (c.type === TIMESTAMPTZ ? localTimestamp
      : String(c.type ?? "").includes(TIMESTAMPTZ) ? localTimestamps : (v) => v));
    this.container.dataset.total = String(this.total);
    // A small answer with multi-line text (EXPLAIN's plan): drawn whole, lines kept.
    const multiline = this.raw && first.some((r) => r.some((v) => v?.includes("\n")));

    this.scroller = el("div", "grid-scroll");
    this.scroller.tabIndex = 0;
    const table = el("table", "grid");
    const colgroup = el("colgroup");
    const headRow = el("tr");
    this.columns.forEach((c, i) => {
      const col = el("col");
      col.style.width = `${this.#width(c, first, i)}px`;
      colgroup.append(col);
      const th = el("th");
      th.scope = "col";
      const name = el("span", "name");
      name.textContent = c.name;
      const type = el("small", "type");
      type.textContent = c.type;
      th.title = `${c.name} ${c.type}`;
      th.append(name, type);
      if (NUMERIC.test(c.type)) th.classList.add("num");
      headRow.append(th);
    });
    const thead = el("thead");
    thead.append(headRow);
    this.body = el("tbody");
    table.append(colgroup, thead, this.body);
    this.scroller.append(table);
    this.container.replaceChildren(this.scroller);
    this.numeric = this.columns.map((c) => NUMERIC.test(c.type));
    if (multiline) {
      table.classList.add("pre");
      this.body.replaceChildren(...first.map((_, i) => this.#row(i)));
      return;
    }
    this.scroller.addEventListener("scroll", () => this.#schedule());
    this.#draw();
  }

  /** A raw (JS) value as text: how the grid shows a non-paged result's values. */
  text(v) {
    if (v == null) return null;
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  #width(column, rows, i) {
    let chars = Math.max(column.name.length, Math.min(column.type.length, 24));
    for (const r of rows.slice(0, 50)) chars = Math.max(chars, String(r[i] ?? "NULL").length);
    return Math.max(56, Math.min(360, chars * 7.6 + 14));
  }

  #schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.#draw(); });
  }

  #scale() {
    return Math.max(1, (this.total * ROW_HEIGHT) / MAX_SCROLL_PX);
  }

  #draw() {
    const scale = this.#scale();
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 400;
    const inView = Math.ceil(height / ROW_HEIGHT);
    const whole = Math.round((this.total * ROW_HEIGHT) / scale);
    // the row at the top of the view; scaled, the last scroll position shows the last rows
    const atTop = scale === 1 ? Math.floor(top / ROW_HEIGHT)
      : Math.round((top / Math.max(1, whole - height)) * Math.max(0, this.total - inView));
    const first = Math.max(0, atTop - OVERSCAN);
    const last = Math.min(this.total, atTop + inView + OVERSCAN);
    // spacers keep the scroll range; the drawn rows sit where the view is
    const above = scale === 1 ? first * ROW_HEIGHT
      : Math.max(0, Math.round(top - (atTop - first) * ROW_HEIGHT));
    const drawn = (last - first) * ROW_HEIGHT;
    const rows = [];
    rows.push(spacer(above, this.columns.length));
    for (let i = first; i < last; i++) rows.push(this.#row(i));
    rows.push(spacer(Math.max(0, whole - above - drawn), this.columns.length));
    this.body.replaceChildren(...rows);
    this.container.dataset.first = String(first);
  }

  #row(index) {
    const page = Math.floor(index / this.pageRows);
    const rows = this.pages.get(page);
    const tr = el("tr");
    tr.dataset.row = String(index);
    if (!rows) {
      this.#load(page);
      const td = el("td", "loading");
      td.colSpan = this.columns.length;
      td.textContent = "…";
      tr.append(td);
      return tr;
    }
    const values = rows[index - page * this.pageRows] ?? [];
    this.columns.forEach((_, c) => {
      const v = values[c];
      const td = el("td", v == null ? "null" : this.numeric[c] ? "num" : "");
      const text = v == null ? "NULL" : this.formats[c](v);
      td.textContent = text;
      if (text.length > 40) td.title = text;
      tr.append(td);
    });
    return tr;
  }

  async #load(page) {
    if (this.loading.has(page) || this.raw) return;
    const generation = this.generation;
    this.loading.set(page, true);
    this.container.dataset.fetched = String(Number(this.container.dataset.fetched ?? 0) + 1);
    try {
      const rows = await this.fetchPage(page * this.pageRows, this.pageRows);
      if (generation !== this.generation) return; // a newer result replaced this one
      this.pages.set(page, rows);
      while (this.pages.size > KEPT_PAGES) this.pages.delete(this.pages.keys().next().value);
      this.#schedule();
    } catch (err) {
      console.warn("[ducksync console] page", page, err);
    } finally {
      this.loading.delete(page);
    }
  }
}

function el(tag, className = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function spacer(height, span) {
  const tr = el("tr", "spacer");
  const td = el("td");
  td.colSpan = Math.max(1, span);
  td.style.height = `${height}px`;
  tr.append(td);
  return tr;
}
