// A file picker that fills a form's text field with the chosen file's text (and a hidden field with its name):
// <input type="file" data-fills="ID of the textarea" data-filename="ID of the hidden input">.
document.addEventListener("change", async (event) => {
  const picker = event.target;
  if (!(picker instanceof HTMLInputElement) || !picker.dataset.fills || !picker.files[0]) return;
  document.getElementById(picker.dataset.fills).value = await picker.files[0].text();
  if (picker.dataset.filename) document.getElementById(picker.dataset.filename).value = picker.files[0].name;
});
