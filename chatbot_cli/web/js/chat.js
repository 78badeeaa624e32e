// The chat pane: one conversation in memory, streamed from /v1/chat/completions.
import { ApiError, request } from "./api.js";
import { copyText, renderMarkdown } from "./markdown.js";
import { eventData } from "./sse.js";
import { say } from "./status.js";

const $ = (id) => document.getElementById(id);

const history = []; // {role, content} sent with every request
let controller = null; // the AbortController of the stream in flight

// The model, system prompt and max tokens survive a reload; the conversation does not.
const SETTINGS_KEY = "chatbot.chatSettings";
const SETTINGS = { model: "model", system: "system", maxTokens: "max-tokens" };

function saveSettings() {
  const values = {};
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

function addMessage(role) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("div");
  body.className = "body";
  item.append(who, body);
  $("messages").append(item);
  return { item, body };
}

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function requestBody() {
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...history);
  const body = { model: $("model").value || "default", messages, stream: true };
  const maxTokens = Number.parseInt($("max-tokens").value, 10);
  if (maxTokens > 0) body.max_tokens = maxTokens;
  return body;
}

/** Stream one answer into `target`; `progress.text` holds what came, even after a stop. */
async function streamAnswer(target, signal, progress) {
  const response = await request("/v1/chat/completions", {
    method: "POST",
    body: requestBody(),
    signal,
  });
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
  try {
    await streamAnswer(answer.body, controller.signal, progress);
    history.push({ role: "assistant", content: progress.text });
  } catch (err) {
    const stopped = err.name === "AbortError";
    if (progress.text) {
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

export function stop() {
  controller?.abort();
}

function newChat() {
  stop();
  history.length = 0;
  $("messages").replaceChildren();
  $("chat-error").textContent = "";
  $("prompt").focus();
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
  for (const id of Object.values(SETTINGS)) $(id).addEventListener("change", saveSettings);
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
  $("messages").addEventListener("click", async (event) => {
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
