// The Execution page's Delete section (rendered only for a session signed in
// with the admin token): a first button opens a confirmation step; only its
// "Delete permanently" sends DELETE /api/v1/executions/{id} (the session
// cookie authenticates it). On 204 the browser goes back to the executions
// list; a refusal (403), an unknown id (404) or a failure is shown in place.
const STATUS_TEXT = {
  403: "Not allowed: this session may only read.",
  404: "This execution does not exist (any more).",
};

export function setupDelete(url, onDeleted) {
  const section = document.getElementById("delete-section");
  if (!section || section.hidden) return;
  const startButton = document.getElementById("delete-start");
  const confirmBox = document.getElementById("delete-confirm");
  const yes = document.getElementById("delete-yes");
  const no = document.getElementById("delete-no");
  const status = document.getElementById("delete-status");
  const show = (open) => {
    confirmBox.hidden = !open;
    startButton.hidden = open;
    (open ? no : startButton).focus();
  };
  startButton.addEventListener("click", () => show(true));
  no.addEventListener("click", () => { status.textContent = ""; show(false); });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    status.classList.remove("error");
    status.textContent = "Deleting…";
    try {
      const response = await fetch(url, { method: "DELETE", credentials: "same-origin" });
      if (response.status === 204) {
        status.textContent = "Deleted.";
        onDeleted();
        return;
      }
      let detail = STATUS_TEXT[response.status];
      if (!detail) detail = `The API answered ${response.status}.`;
      status.textContent = detail;
    } catch (error) {
      status.textContent = "Could not delete: " + error.message;
    }
    status.classList.add("error");
    yes.disabled = no.disabled = false;
  });
}
