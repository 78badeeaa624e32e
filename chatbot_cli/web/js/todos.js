// The todo pane over /graphql. A new todo field is one entry in FIELDS (and EDITABLE if the
// user may change it); a new filter is one entry in FILTERS plus its control in index.html.
import { graphql } from "./api.js";
import { say } from "./status.js";

const $ = (id) => document.getElementById(id);

/** Fields every query asks for; `meta` ones are shown after the title by formatMeta. */
const FIELDS = ["id", "title", "completed", "createdAt", "updatedAt"];

/** Filters: the control's id, the `todos` argument it sets, its GraphQL type and value. */
const FILTERS = [
  {
    control: "todo-filter-completed",
    arg: "completed",
    type: "Boolean",
    value: (el) => (el.value === "" ? null : el.value === "true"),
  },
  {
    control: "todo-filter-search",
    arg: "search",
    type: "String",
    value: (el) => el.value.trim() || null,
  },
];

/** Arguments of updateTodo the page may send, with their GraphQL types. */
const EDITABLE = { title: "String", completed: "Boolean" };

const selection = FIELDS.join(" ");
const LIST = `query Todos(${FILTERS.map((f) => `$${f.arg}: ${f.type}`).join(", ")}) {
  todos(${FILTERS.map((f) => `${f.arg}: $${f.arg}`).join(", ")}) { ${selection} }
}`;
const CREATE = `mutation CreateTodo($title: String!) { createTodo(title: $title) { ${selection} } }`;
const UPDATE = `mutation UpdateTodo($id: Int!, ${Object.entries(EDITABLE)
  .map(([name, type]) => `$${name}: ${type}`)
  .join(", ")}) {
  updateTodo(id: $id, ${Object.keys(EDITABLE)
    .map((name) => `${name}: $${name}`)
    .join(", ")}) { ${selection} }
}`;
const DELETE = `mutation DeleteTodo($id: Int!) { deleteTodo(id: $id) { ${selection} } }`;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function formatMeta(todo) {
  return `added ${dateFormat.format(new Date(todo.createdAt))}`;
}

function showError(err) {
  $("todo-error").textContent = err ? err.message : "";
}

let loading = 0; // the number of the latest list request; older answers are dropped

export async function loadTodos() {
  const mine = ++loading;
  const variables = {};
  for (const f of FILTERS) variables[f.arg] = f.value($(f.control));
  try {
    const { todos } = await graphql(LIST, variables);
    if (mine !== loading) return;
    showError(null);
    $("todo-list").replaceChildren(...todos.map(todoItem));
    $("todo-empty").hidden = todos.length > 0;
  } catch (err) {
    if (mine === loading) showError(err);
  }
}

async function mutate(query, variables, done) {
  try {
    const data = await graphql(query, variables);
    showError(null);
    say(done(Object.values(data)[0]));
    await loadTodos();
    return true;
  } catch (err) {
    showError(err);
    return false;
  }
}

function button(label, name, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.setAttribute("aria-label", name);
  b.addEventListener("click", onClick);
  return b;
}

function todoItem(todo) {
  const item = document.createElement("li");
  item.className = "todo";
  item.classList.toggle("done", todo.completed);
  item.dataset.id = todo.id;

  const check = document.createElement("input");
  check.type = "checkbox";
  check.checked = todo.completed;
  check.setAttribute("aria-label", `Completed: ${todo.title}`);
  check.addEventListener("change", async () => {
    const ok = await mutate(UPDATE, { id: todo.id, completed: check.checked }, (t) =>
      t.completed ? `Completed “${t.title}”.` : `Reopened “${t.title}”.`,
    );
    if (!ok) check.checked = !check.checked; // show what the server still has
  });

  const title = document.createElement("span");
  title.className = "title";
  title.textContent = todo.title;

  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = formatMeta(todo);

  const edit = button("Edit", `Edit “${todo.title}”`, () => startEdit(item, todo));
  const remove = button("Delete", `Delete “${todo.title}”`, () =>
    mutate(DELETE, { id: todo.id }, (t) => `Deleted “${t.title}”.`),
  );
  item.append(check, title, meta, edit, remove);
  return item;
}

function startEdit(item, todo) {
  const form = document.createElement("form");
  form.className = "edit row";
  const input = document.createElement("input");
  input.type = "text";
  input.maxLength = 500;
  input.value = todo.title;
  input.setAttribute("aria-label", `New title for “${todo.title}”`);
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  const cancel = button("Cancel", "Cancel editing", () => loadTodos());
  form.append(input, save, cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // On an error the form stays as it is, so the typed title is not lost.
    mutate(UPDATE, { id: todo.id, title: input.value }, (t) => `Renamed to “${t.title}”.`);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") loadTodos();
  });
  item.replaceChildren(form);
  input.focus();
  input.select();
}

export function initTodos() {
  $("todo-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("todo-title");
    const ok = await mutate(CREATE, { title: input.value }, (t) => `Added “${t.title}”.`);
    if (ok) input.value = "";
    input.focus();
  });
  let timer = 0;
  for (const f of FILTERS) {
    $(f.control).addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(loadTodos, 200);
    });
  }
}
