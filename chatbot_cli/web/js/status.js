// One polite status line for what just happened; it clears itself after a few seconds.
let timer = 0;

export function say(message) {
  const status = document.getElementById("status");
  status.textContent = message;
  clearTimeout(timer);
  timer = setTimeout(() => {
    status.textContent = "";
  }, 4000);
}
