// Start-up: find out whether a key is needed, ask for it once, then show the panes.
import { getJSON, rememberKey, storedKey, whenUnauthorized } from "./api.js";
import { continueConversation, conversationDeleted, initChat, loadModels, stop } from "./chat.js";
import { initHistory, showHistory } from "./history.js";
import { initTodos, loadTodos } from "./todos.js";

const $ = (id) => document.getElementById(id);
const PANES = { chat: "pane-chat", todos: "pane-todos", history: "pane-history" };
let current = "chat";

function showPane(name, { focus = false } = {}) {
  current = name in PANES ? name : "chat";
  for (const [pane, id] of Object.entries(PANES)) {
    const on = pane === current;
    const tab = $(`tab-${pane}`);
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(id).hidden = !on;
  }
  if (focus) $(`tab-${current}`).focus();
  if (location.hash !== `#${current}`) history.replaceState(null, "", `#${current}`);
  if (current === "todos") loadTodos();
  if (current === "history") showHistory();
}

function initTabs() {
  const names = Object.keys(PANES);
  for (const name of names) {
    $(`tab-${name}`).addEventListener("click", () => showPane(name));
  }
  // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
  $("tabs").addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = names[(names.indexOf(current) + step + names.length) % names.length];
    showPane(next, { focus: true });
  });
}

function showLogin(message) {
  stop();
  $("boot").hidden = true;
  $("tabs").hidden = true;
  $("forget-key").hidden = true;
  for (const id of Object.values(PANES)) $(id).hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("key-input").focus();
}

/** Show the panes; `models` is the list, or the error that listing them met (todos still work). */
function showApp(models, { keyed }) {
  $("boot").hidden = true;
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("forget-key").hidden = !keyed;
  loadModels(models);
  showPane(location.hash.slice(1));
}

/** Ask the server for its models with `key` (null: none); 401 means the key is wrong. */
async function probe(key) {
  const body = await getJSON("/v1/models", { key });
  return body.data;
}

function refusal(err) {
  return `The server refused this key: ${err.message} Check it and try again.`;
}

async function boot() {
  const key = storedKey();
  try {
    showApp(await probe(key), { keyed: Boolean(key) });
  } catch (err) {
    if (err.status !== 401) {
      showApp(err, { keyed: Boolean(key) });
      return;
    }
    if (key) rememberKey(null);
    showLogin(key ? refusal(err) : "");
  }
}

function initLogin() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    $("login-error").textContent = "Checking…";
    try {
      const models = await probe(key);
      rememberKey(key);
      $("key-input").value = "";
      showApp(models, { keyed: true });
    } catch (err) {
      if (err.status === 401) {
        $("login-error").textContent = refusal(err);
      } else if (err.status) {
        // The key got past auth but the models could not be listed: keep it, todos work.
        rememberKey(key);
        $("key-input").value = "";
        showApp(err, { keyed: true });
      } else {
        $("login-error").textContent = err.message;
      }
    }
  });
  $("forget-key").addEventListener("click", () => {
    rememberKey(null);
    showLogin("The key is forgotten.");
  });
  whenUnauthorized((err) => {
    rememberKey(null);
    showLogin(`The server no longer accepts the stored key: ${err.message}`);
  });
}

initTabs();
initLogin();
initChat();
initTodos();
initHistory({
  continueIn(conversation) {
    continueConversation(conversation);
    showPane("chat");
    $("prompt").focus();
  },
  deleted: conversationDeleted,
});
boot();
