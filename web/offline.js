// Registers ducksync's service worker (web/sw.js), which makes the app start offline after one
// visit. Exported from /dist/ducksync.js; the demo page calls it, embedders may use their own.
// See docs/offline-and-tabs.md.

/**
 * Register `url` (default: sw.js at the web root, scope = the web root) once the page has
 * loaded, so precaching does not compete with the workers' boot.
 * `onUpdate()` runs when a newer build took over a page that was already controlled:
 * the running code is the old build, so offer a reload.
 * Resolves to the registration, or null when service workers are unavailable.
 */
export async function registerServiceWorker({ url = new URL("../sw.js", import.meta.url), onUpdate = () => {} } = {}) {
  if (!("serviceWorker" in navigator)) return null;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("message", ({ data }) => {
    if (data?.type === "ducksync:sw-updated" && hadController) onUpdate(data);
  });
  if (document.readyState !== "complete") await new Promise((resolve) => addEventListener("load", resolve, { once: true }));
  return navigator.serviceWorker.register(url, { scope: new URL("./", url).pathname, updateViaCache: "none" });
}
