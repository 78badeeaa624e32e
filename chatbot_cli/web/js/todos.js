// The todo pane over /graphql. A new todo field is one entry in FIELDS (and DETAILS if the
// user may set it); a new filter is one entry in FILTERS plus its control in index.html.
import { graphql } from "./api.js";
import { say } from "./status.js";

const $ = (id) => document.getElementById(id);

/** Fields every query asks for; `meta` ones are shown after the title by formatMeta. */
const FIELDS = [
  "id", "title", "completed", "createdAt", "updatedAt", "due", "priority", "tags", "project",
];

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
  { control: "todo-sort", arg: "sort", type: "TodoSort", value: (el) => el.value },
];

const PRIORITIES = ["NONE", "LOW", "MEDIUM", "HIGH"];

/** The fields a todo's form sets besides its title: the form control, how a todo's value
 * shows in it, and the mutation argument it becomes (null clears the field). */
const DETAILS = {
  due: {
    type: "DateTime",
    label: "Due",
    make: () => Object.assign(document.createElement("input"), { type: "datetime-local" }),
    show: (v) => (v ? localInput(new Date(v)) : ""),
    read: (el) => (el.value ? new Date(el.value).toISOString() : null),
  },
  priority: {
    type: "Priority",
    label: "Priority",
    make: () => {
      const select = document.createElement("select");
      select.append(...PRIORITIES.map((p) => new Option(p.toLowerCase(), p)));
      return select;
    },
    show: (v) => v || "NONE",
    read: (el) => el.value,
  },
  tags: {
    type: "[String!]",
    label: "Tags",
    make: () => Object.assign(document.createElement("input"), { type: "text" }),
    show: (v) => (v || []).join(" "),
    read: (el) => el.value.split(/[\s,]+/).filter(Boolean),
  },
  project: {
    type: "String",
    label: "Project",
    make: () => Object.assign(document.createElement("input"), { type: "text", maxLength: 100 }),
    show: (v) => v || "",
    read: (el) => el.value.trim() || null,
  },
};

/** Arguments of updateTodo the page may send, with their GraphQL types. */
const EDITABLE = {
  title: "String",
  completed: "Boolean",
  ...Object.fromEntries(Object.entries(DETAILS).map(([name, d]) => [name, d.type])),
};
const detailParams = Object.entries(DETAILS)
  .map(([name, d]) => `$${name}: ${d.type}`)
  .join(", ");
const detailArgs = Object.keys(DETAILS)
  .map((name) => `${name}: $${name}`)
  .join(", ");

const selection = FIELDS.join(" ");
const LIST = `query Todos(${FILTERS.map((f) => `$${f.arg}: ${f.type}`).join(", ")}) {
  todos(${FILTERS.map((f) => `${f.arg}: $${f.arg}`).join(", ")}) { ${selection} }
}`;
const CREATE = `mutation CreateTodo($title: String!, ${detailParams}) {
  createTodo(title: $title, ${detailArgs}) { ${selection} }
}`;
const UPDATE = `mutation UpdateTodo($id: Int!, ${Object.entries(EDITABLE)
  .map(([name, type]) => `$${name}: ${type}`)
  .join(", ")}) {
  updateTodo(id: $id, ${Object.keys(EDITABLE)
    .map((name) => `${name}: $${name}`)
    .join(", ")}) { ${selection} }
}`;
const DELETE = `mutation DeleteTodo($id: Int!) { deleteTodo(id: $id) { ${selection} } }`;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A Date as the value of a datetime-local input: the user's own clock, to the minute. */
function localInput(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

function formatMeta(todo) {
  const parts = [];
  if (todo.priority && todo.priority !== "NONE") parts.push(`${todo.priority.toLowerCase()} priority`);
  if (todo.due) {
    const late = !todo.completed && new Date(todo.due) < new Date();
    parts.push(`${late ? "overdue since" : "due"} ${dateFormat.format(new Date(todo.due))}`);
  }
  if (todo.project) parts.push(`project ${todo.project}`);
  for (const tag of todo.tags || []) parts.push(`#${tag}`);
  parts.push(`added ${dateFormat.format(new Date(todo.createdAt))}`);
  return parts.join(" · ");
}

/** Labelled controls for DETAILS, filled from `todo`; `read()` gives the mutation arguments
 * for the ones changed. */
function detailControls(todo, labelFor) {
  const controls = {};
  const nodes = [];
  for (const [name, d] of Object.entries(DETAILS)) {
    const el = d.make();
    el.value = d.show(todo[name]);
    el.setAttribute("aria-label", labelFor(d.label));
    el.dataset.field = name;
    controls[name] = el;
    nodes.push(el);
  }
  // Only the fields the user changed are sent: a due time shown to the minute must not
  // overwrite the seconds the todo has when only its title was edited.
  const read = () =>
    Object.fromEntries(
      Object.entries(controls)
        .filter(([name, el]) => el.value !== DETAILS[name].show(todo[name]))
        .map(([name, el]) => [name, DETAILS[name].read(el)]),
    );
  return { nodes, read };
}

function showError(err) {
  $("todo-error").textContent = err ? err.message : "";
}

let loading = 0; // the number of the latest list request; older answers are dropped
/** Open edit forms by todo id: a list reload (after another todo's change) keeps them, so an
 * edit started while a reload was in flight does not vanish with what was typed in it. */
const editing = new Map();

export async function loadTodos() {
  const mine = ++loading;
  const variables = {};
  for (const f of FILTERS) variables[f.arg] = f.value($(f.control));
  try {
    const { todos } = await graphql(LIST, variables);
    if (mine !== loading) return;
    showError(null);
    const shown = new Set(todos.map((t) => t.id));
    for (const id of editing.keys()) if (!shown.has(id)) editing.delete(id);
    $("todo-list").replaceChildren(...todos.map((t) => editing.get(t.id) || todoItem(t)));
    $("todo-empty").hidden = todos.length > 0;
  } catch (err) {
    if (mine === loading) showError(err);
  }
}

/** Runs a mutation; on success `settle` runs before the list reloads, and the status line
 * speaks only once the list shows the change. */
async function mutate(query, variables, done, settle = () => {}) {
  try {
    const data = await graphql(query, variables);
    showError(null);
    settle();
    await loadTodos();
    say(done(Object.values(data)[0]));
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
  item.classList.toggle("overdue", !todo.completed && !!todo.due && new Date(todo.due) < new Date());
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
  const close = () => {
    editing.delete(todo.id);
    loadTodos();
  };
  const cancel = button("Cancel", "Cancel editing", close);
  const details = detailControls(todo, (label) => `${label} of “${todo.title}”`);
  form.append(input, ...details.nodes, save, cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // On an error the form stays as it is, so what was typed is not lost.
    const variables = { id: todo.id, title: input.value, ...details.read() };
    mutate(UPDATE, variables, (t) => `Saved “${t.title}”.`, () => editing.delete(todo.id));
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  editing.set(todo.id, item);
  item.replaceChildren(form);
  input.focus();
  input.select();
}

export function initTodos() {
  const details = detailControls({}, (label) => `${label} of the todo to add`);
  $("todo-details").append(...details.nodes);
  $("todo-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("todo-title");
    const variables = { title: input.value, ...details.read() };
    const ok = await mutate(CREATE, variables, (t) => `Added “${t.title}”.`);
    if (ok) {
      input.value = "";
      for (const el of details.nodes) el.value = DETAILS[el.dataset.field].show(undefined);
    }
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
