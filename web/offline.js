// Registers ducksync's service worker (web/sw.js), which makes the app start offline after one
// visit. Exported from /dist/ducksync.js; the demo page calls it, embedders may use their own.
// See docs/offline-and-tabs.md.

// The worker that served this page (null on a first visit), taken when this module loads.
const controllerAtLoad = globalThis.navigator?.serviceWorker?.controller ?? null;

/**
 * Register `url` (default: sw.js at the web root, scope = the web root) once the page has
 * loaded. `onUpdate()` runs when a newer build's worker took over a page that an older one
 * served: the running code is the old build, so offer a reload.
 * Resolves to the registration, or null when service workers are unavailable.
 */
export async function registerServiceWorker({ url = new URL("../sw.js", import.meta.url), onUpdate = () => {} } = {}) {
  if (!("serviceWorker" in navigator)) return null;
  const sw = navigator.serviceWorker;
  let notified = false;
  const check = () => {
    if (controllerAtLoad && sw.controller && sw.controller !== controllerAtLoad && !notified) {
      notified = true;
      onUpdate();
    }
  };
  sw.addEventListener("controllerchange", check);
  check(); // it may have taken over while the page booted
  if (document.readyState !== "complete") await new Promise((resolve) => addEventListener("load", resolve, { once: true }));
  return sw.register(url, { scope: new URL("./", url).pathname, updateViaCache: "none" });
}
