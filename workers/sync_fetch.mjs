// The remote worker's one HTTP primitive for sync calls (workers/remote_sync.py): the
// request body (an IPC Uint8Array that was transferred to this worker) goes to fetch as a
// Blob, and an Arrow answer comes back as a Uint8Array that Python passes on untouched.
// `bearer` (the app's token, connect({getToken})) replaces the cookie: with it, none is sent.
const ARROW = "application/vnd.apache.arrow.stream";

export async function syncFetch(method, path, query, json, body, bearer = null) {
  const url = new URL(path, self.location.origin);
  for (const [k, v] of query ?? []) url.searchParams.append(k, v);
  const headers = {};
  let payload;
  // As a Blob: Chromium handles a typed-array body ~15x slower (an 18 MB batch: ~1 s of
  // CPU in this worker and the browser process, vs ~65 ms as a Blob; measured with
  // Playwright attached, as every test and benchmark runs).
  if (body) { headers["content-type"] = ARROW; payload = new Blob([body], { type: ARROW }); }
  else if (json !== null && json !== undefined) { headers["content-type"] = "application/json"; payload = JSON.stringify(json); }
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(url, { method, headers, body: payload, cache: "no-store",
                                      credentials: bearer ? "omit" : "same-origin" });
  const type = response.headers.get("content-type") || "";
  const out = { status: response.status, ipc: null, json: null,
                headers: Object.fromEntries(response.headers.entries()) };
  if (type.startsWith(ARROW)) {
    out.ipc = new Uint8Array(await response.arrayBuffer());
    out.wire = Number(response.headers.get("content-length")) || out.ipc.byteLength;
  } else {
    const text = await response.text();
    out.wire = text.length;
    try { out.json = text ? JSON.parse(text) : null; } catch { out.json = null; }
  }
  return out;
}
