// The History pane: the key owner's stored conversations over /graphql (graphql/conversations.py),
// newest first or searched, a page at a time; one opened to read, rename, delete or continue.
// Everything the server sends is put in the page as text, except assistant messages, which go
// through the page's one Markdown renderer (markdown.js).
import { graphql } from "./api.js";
import { messageItem } from "./chat.js";
import { wireCopyButtons } from "./markdown.js";
import { say } from "./status.js";

const $ = (id) => document.getElementById(id);

const PAGE = 20;
const FIELDS = "id name title model createdAt updatedAt messageCount";
const LIST = `query Conversations($search: String, $first: Int, $after: String) {
  conversations(search: $search, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { ${FIELDS} snippet }
  }
}`;
const ONE = `query Conversation($id: ID!) {
  conversation(id: $id) {
    ${FIELDS} usage { totalTokens }
    messages { role content }
    context { role content }
  }
}`;
const RENAME = `mutation RenameConversation($id: ID!, $name: String) {
  renameConversation(id: $id, name: $name) { ${FIELDS} }
}`;
const DELETE = `mutation DeleteConversation($id: ID!) { deleteConversation(id: $id) }`;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

let listing = 0; // the number of the latest list request; older answers are dropped
const next = { search: null, after: null }; // what "More" asks for: the shown list's next page
let stale = false; // the shown list predates a rename
let opened = null; // the conversation on show, as the server last gave it
let onContinue = () => {};
let onDeleted = () => {};

function showError(err) {
  $("history-error").textContent = err ? err.message : "";
}

function label(conv) {
  return conv.name || conv.title || "Untitled";
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function metaOf(conv) {
  const parts = [];
  if (conv.name && conv.title) parts.push(`“${conv.title}”`);
  parts.push(conv.model, plural(conv.messageCount, "message"));
  parts.push(dateFormat.format(new Date(conv.updatedAt)));
  return parts.join(" · ");
}

/** The server marks the matched words with ** (graphql/conversations.py): they become <mark>
 * elements and the rest text nodes, so nothing in a snippet is ever read as HTML. */
function snippetOf(text) {
  const p = document.createElement("p");
  p.className = "snippet";
  text.split("**").forEach((part, i) => {
    if (!part) return;
    if (i % 2 === 0) {
      p.append(part);
      return;
    }
    const mark = document.createElement("mark");
    mark.textContent = part;
    p.append(mark);
  });
  return p;
}

function listItem(conv) {
  const item = document.createElement("li");
  item.className = "conversation";
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open";
  open.textContent = label(conv);
  open.addEventListener("click", () => openConversation(conv.id));
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = metaOf(conv);
  item.append(open, meta);
  if (conv.snippet) item.append(snippetOf(conv.snippet));
  return item;
}

/** The first page of the list for the search box, or with `more` the page after the shown one. */
async function loadList({ more = false } = {}) {
  const mine = ++listing;
  const search = more ? next.search : $("history-query").value.trim() || null;
  const variables = { search, first: PAGE, after: more ? next.after : null };
  $("history-more").disabled = true;
  try {
    const { conversations } = await graphql(LIST, variables);
    if (mine !== listing) return;
    showError(null);
    stale = false;
    const items = conversations.nodes.map(listItem);
    if (more) $("history-list").append(...items);
    else $("history-list").replaceChildren(...items);
    next.search = search;
    next.after = conversations.pageInfo.endCursor;
    $("history-more").hidden = !conversations.pageInfo.hasNextPage;
    const empty = $("history-empty");
    empty.hidden = $("history-list").children.length > 0;
    empty.textContent = search
      ? `No conversation matches “${search}”.`
      : "No conversation yet: chats are kept here.";
  } catch (err) {
    if (mine === listing) showError(err);
  } finally {
    if (mine === listing) $("history-more").disabled = false;
  }
}

function closeForms() {
  $("history-rename-form").hidden = true;
  $("history-confirm").hidden = true;
}

function describe(conv) {
  $("history-title").textContent = label(conv);
  const parts = [metaOf(conv)];
  if (conv.usage) parts.push(`${plural(conv.usage.totalTokens, "token")}`);
  if (conv.createdAt) parts.push(`started ${dateFormat.format(new Date(conv.createdAt))}`);
  if (conv.messages && conv.messages.length < conv.messageCount) {
    parts.push(`the first ${conv.messages.length} shown`);
  }
  $("history-meta").textContent = parts.join(" · ");
}

function showConversation(conv) {
  opened = conv;
  closeForms();
  describe(conv);
  $("history-messages").replaceChildren(
    ...conv.messages.map((m) => messageItem(m.role, m.content).item),
  );
  $("history-browse").hidden = true;
  $("history-view").hidden = false;
  $("history-back").focus();
}

async function openConversation(id) {
  try {
    const { conversation } = await graphql(ONE, { id });
    showError(null);
    showConversation(conversation);
  } catch (err) {
    showError(err);
    if (err.code === "NOT_FOUND") loadList(); // deleted elsewhere: the list was out of date
  }
}

function showList({ reload = false } = {}) {
  opened = null;
  closeForms();
  $("history-view").hidden = true;
  $("history-browse").hidden = false;
  $("history-messages").replaceChildren();
  if (reload || stale) loadList();
}

/** The pane was shown: the list is read again, unless a conversation is open. */
export function showHistory() {
  if (!opened) loadList();
}

function startRename() {
  $("history-confirm").hidden = true;
  $("history-rename-form").hidden = false;
  const input = $("history-name");
  input.value = opened.name ?? "";
  input.focus();
  input.select();
}

async function rename(event) {
  event.preventDefault();
  const conv = opened;
  const name = $("history-name").value.trim() || null;
  try {
    const { renameConversation } = await graphql(RENAME, { id: conv.id, name });
    showError(null);
    stale = true;
    if (opened !== conv) return;
    opened = { ...conv, ...renameConversation };
    describe(opened);
    $("history-rename-form").hidden = true;
    $("history-rename").focus();
    say(name ? `Named “${name}”.` : "The name is removed.");
  } catch (err) {
    showError(err); // the form stays open with what was typed
  }
}

function askDelete() {
  $("history-rename-form").hidden = true;
  $("history-confirm-text").textContent =
    `Delete “${label(opened)}” and its ${plural(opened.messageCount, "message")}? ` +
    "This cannot be undone.";
  $("history-confirm").hidden = false;
  $("history-confirm-cancel").focus();
}

async function confirmDelete() {
  const conv = opened;
  try {
    await graphql(DELETE, { id: conv.id });
    showError(null);
    onDeleted(conv.id);
    say(`Deleted “${label(conv)}”.`);
    if (opened === conv) showList({ reload: true });
  } catch (err) {
    showError(err);
  }
}

/**
 * `continueIn(conversation)` takes an opened conversation to the chat; `deleted(id)` hears of a
 * conversation deleted here (main.js wires both to chat.js, which this module does not drive).
 */
export function initHistory({ continueIn, deleted }) {
  onContinue = continueIn;
  onDeleted = deleted;
  let timer = 0;
  $("history-query").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(loadList, 300);
  });
  $("history-search").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    loadList();
  });
  $("history-refresh").addEventListener("click", () => loadList());
  $("history-more").addEventListener("click", () => loadList({ more: true }));
  $("history-back").addEventListener("click", () => showList());
  $("history-continue").addEventListener("click", () => onContinue(opened));
  $("history-rename").addEventListener("click", startRename);
  $("history-rename-form").addEventListener("submit", rename);
  $("history-rename-cancel").addEventListener("click", closeForms);
  $("history-rename-form").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeForms();
  });
  $("history-delete").addEventListener("click", askDelete);
  $("history-confirm-delete").addEventListener("click", confirmDelete);
  $("history-confirm-cancel").addEventListener("click", () => {
    closeForms();
    $("history-delete").focus();
  });
  wireCopyButtons($("history-messages"));
}
