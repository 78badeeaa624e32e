// The chat pane: one conversation, streamed from /v1/chat/completions and kept on the server
// the way `chatbot chat` keeps it (store: true, then the x-conversation-id it was given).
import { ApiError, request } from "./api.js";
import { renderMarkdown, wireCopyButtons } from "./markdown.js";
import { eventData } from "./sse.js";
import { say } from "./status.js";

const $ = (id) => document.getElementById(id);

const history = []; // {role, content} sent with every request
let controller = null; // the AbortController of the stream in flight
// The stored conversation the turns go to: id null until the server names a new one.
const conversation = { id: null, title: "" };
// Bumped when the chat is emptied, so an answer of the chat before it, ending later, stays out.
let chatNumber = 0;

// The model, system prompt, max tokens and logging survive a reload; the conversation does not.
const SETTINGS_KEY = "chatbot.chatSettings";
const SETTINGS = { model: "model", system: "system", maxTokens: "max-tokens" };

function saveSettings() {
  const values = { log: $("log").checked };
  for (const [name, id] of Object.entries(SETTINGS)) values[name] = $(id).value;
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(values));
}

function savedSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "{}") ?? {};
  } catch {
    return {}; // unreadable: start from the defaults
  }
}

function setStreaming(on) {
  $("send").disabled = on;
  $("stop").disabled = !on;
  $("messages").setAttribute("aria-busy", String(on));
}

const WHO = { user: "You", assistant: "Assistant", system: "System" };

/** A message of a conversation list; only an assistant's text is Markdown, the rest is text. */
export function messageItem(role, content = "") {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = WHO[role] ?? role;
  const body = document.createElement("div");
  body.className = "body";
  if (role === "assistant") renderMarkdown(body, content);
  else body.textContent = content;
  item.append(who, body);
  return { item, body };
}

function addMessage(role) {
  const message = messageItem(role);
  $("messages").append(message.item);
  return message;
}

/** The line above the messages saying where the turns are kept. */
function showConversation() {
  const line = $("chat-conversation");
  if (!$("log").checked) line.textContent = "Not kept in History (see Model and system prompt).";
  else if (conversation.id) line.textContent = `Kept in History as “${conversation.title}”.`;
  else line.textContent = "A new conversation: kept in History from its first answer.";
}

function setConversation(id, title) {
  conversation.id = id;
  conversation.title = title;
  showConversation();
}

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function requestBody() {
  const messages = [];
  const system = $("system").value.trim();
  // A continued conversation may start with its own system message: the box replaces it when
  // it says something, as `chatbot chat --system` does.
  const kept = system && history[0]?.role === "system" ? history.slice(1) : history;
  if (system) messages.push({ role: "system", content: system });
  messages.push(...kept);
  const body = { model: $("model").value || "default", messages, stream: true };
  const maxTokens = Number.parseInt($("max-tokens").value, 10);
  if (maxTokens > 0) body.max_tokens = maxTokens;
  if ($("log").checked) {
    body.store = true;
    if (conversation.id) body.conversation = conversation.id;
  } else if (conversation.id) {
    // A turn the server does not keep: the stored conversation no longer matches this one.
    setConversation(null, "");
  }
  return body;
}

/** Stream one answer into `target`; `progress.text` holds what came, even after a stop. */
async function streamAnswer(target, signal, progress) {
  const body = requestBody();
  const response = await request("/v1/chat/completions", {
    method: "POST",
    body,
    signal,
  });
  // The server names the conversation before the first token, so a stopped answer has it too.
  const id = response.headers.get("x-conversation-id");
  if (id && body.store && !conversation.id) setConversation(id, titleOf(body.messages));
  const list = $("messages");
  let frame = 0;
  let finished = false;
  const paint = () => {
    frame = 0;
    const follow = nearBottom(list);
    renderMarkdown(target, progress.text);
    if (follow) list.scrollTop = list.scrollHeight;
  };
  try {
    for await (const data of eventData(response)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) {
        throw new ApiError(chunk.error.message, { code: chunk.error.code ?? null });
      }
      if (chunk.choices?.[0]?.finish_reason) finished = true;
      const piece = chunk.choices?.[0]?.delta?.content;
      if (piece) {
        const first = !progress.text;
        progress.text += piece;
        // The first words show at once; later ones are drawn once per frame.
        if (first) paint();
        else frame ||= requestAnimationFrame(paint);
      }
    }
  } catch (err) {
    if (err.name === "AbortError" || err instanceof ApiError) throw err;
    throw new ApiError(`The connection broke before the answer ended (${err.message}).`);
  } finally {
    if (frame) cancelAnimationFrame(frame);
    paint();
  }
  if (!finished) throw new ApiError("The server closed the stream before the answer ended.");
}

async function send() {
  const prompt = $("prompt");
  const content = prompt.value;
  if (controller || !content.trim()) return;
  $("chat-error").textContent = "";
  history.push({ role: "user", content });
  addMessage("user").body.textContent = content;
  prompt.value = "";
  const answer = addMessage("assistant");
  answer.item.classList.add("streaming");
  controller = new AbortController();
  setStreaming(true);
  const progress = { text: "" };
  const mine = chatNumber;
  try {
    await streamAnswer(answer.body, controller.signal, progress);
    if (mine === chatNumber) history.push({ role: "assistant", content: progress.text });
  } catch (err) {
    const stopped = err.name === "AbortError";
    if (mine !== chatNumber) {
      // The chat was emptied meanwhile: its history is not this one's; unanswered text comes back.
      if (!progress.text && !prompt.value) prompt.value = content;
    } else if (progress.text) {
      history.push({ role: "assistant", content: progress.text });
    } else {
      // Nothing came back: take the message out again and give the text back to edit or resend.
      history.pop();
      answer.item.previousElementSibling?.remove();
      answer.item.remove();
      if (!prompt.value) prompt.value = content;
    }
    if (stopped) {
      answer.item.classList.add("stopped");
      say("Stopped.");
    } else {
      $("chat-error").textContent = err.message;
      answer.item.classList.add("failed");
    }
  } finally {
    answer.item.classList.remove("streaming");
    controller = null;
    setStreaming(false);
    prompt.focus();
  }
}

/** The title the server gives a conversation (db/conversations.title_of): its first message. */
function titleOf(messages) {
  const first = messages.find((m) => m.role === "user")?.content ?? "";
  const line = first.split(/\s+/).filter(Boolean).join(" ");
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

export function stop() {
  controller?.abort();
}

function clearChat() {
  stop();
  chatNumber += 1;
  history.length = 0;
  $("messages").replaceChildren();
  $("chat-error").textContent = "";
  setConversation(null, "");
}

function newChat() {
  clearChat();
  $("prompt").focus();
}

/**
 * Go on with a stored conversation, as `chatbot chat --cid` does: its messages are shown, and
 * the next turn sends its `context` (the last turn's input and answer) into the same id.
 */
export function continueConversation({ id, name, title, model, messages, context }) {
  clearChat();
  history.push(...context.map(({ role, content }) => ({ role, content })));
  $("messages").append(...messages.map((m) => messageItem(m.role, m.content).item));
  $("messages").scrollTop = $("messages").scrollHeight;
  setConversation(id, name || title);
  const served = [...$("model").options].some((o) => o.value === model);
  if (served) $("model").value = model;
  else if (model) say(`The model ${model} is not served here: ${$("model").value} answers.`);
}

/** A conversation deleted elsewhere in the page: a chat still in it starts afresh. */
export function conversationDeleted(id) {
  if (conversation.id === id) clearChat();
}

/** Fill the model picker from a list, or report the error met while listing them. */
export function loadModels(models) {
  const select = $("model");
  const previous = select.value || savedSettings().model;
  if (models instanceof Error) {
    select.replaceChildren();
    $("chat-error").textContent = `The models could not be listed: ${models.message}`;
    $("send").disabled = true;
    return;
  }
  const data = models;
  select.replaceChildren(
    ...data.map((m) => {
      const option = document.createElement("option");
      option.value = m.id;
      option.textContent = m.id;
      return option;
    }),
  );
  if (data.some((m) => m.id === previous)) select.value = previous;
  $("chat-error").textContent = data.length ? "" : "This server has no model: chat is off.";
  $("send").disabled = !data.length;
}

export function initChat() {
  const saved = savedSettings();
  $("system").value = saved.system ?? "";
  $("max-tokens").value = saved.maxTokens ?? "";
  $("log").checked = saved.log ?? true;
  for (const id of [...Object.values(SETTINGS), "log"]) {
    $(id).addEventListener("change", saveSettings);
  }
  $("log").addEventListener("change", showConversation);
  showConversation();
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && controller) {
      event.preventDefault();
      stop();
    }
  });
  $("stop").addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  wireCopyButtons($("messages"));
}
