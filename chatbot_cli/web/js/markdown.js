// Model answers as Markdown, made safe: raw HTML in the answer is shown as text, and the HTML
// marked produces passes DOMPurify before it reaches the page (the CSP only lets DOMPurify's
// Trusted Types policy write HTML).
import { Marked } from "../vendor/marked.esm.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const marked = new Marked({
  gfm: true,
  async: false,
  renderer: {
    // Block and inline HTML both come here: a model writing <script> means the text "<script>".
    html({ text }) {
      return escapeHtml(text);
    },
  },
});

let purifier = null;

function sanitizer() {
  if (purifier) return purifier;
  purifier = globalThis.DOMPurify;
  if (!purifier?.isSupported) throw new Error("The HTML sanitiser did not load.");
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
  return purifier;
}

const PURIFY_CONFIG = {
  RETURN_TRUSTED_TYPE: true,
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "img"],
  FORBID_ATTR: ["style", "id", "class"],
};

/** Replace the children of `element` with `text` rendered as sanitised Markdown. */
export function renderMarkdown(element, text) {
  const html = marked.parse(text);
  element.innerHTML = sanitizer().sanitize(html, PURIFY_CONFIG);
  for (const pre of element.querySelectorAll("pre")) {
    const wrap = document.createElement("div");
    wrap.className = "code";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy code");
    pre.replaceWith(wrap);
    wrap.append(copy, pre);
  }
}

/** Copy text to the clipboard; the fallback serves pages on plain http off loopback. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

/** The "Copy" buttons renderMarkdown adds, for every message list under `container`. */
export function wireCopyButtons(container) {
  container.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const code = button.parentElement.querySelector("pre")?.textContent ?? "";
    try {
      await copyText(code);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  });
}
