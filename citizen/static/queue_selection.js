// The queue's "select all": ticks or clears every report of the page that can be decided in bulk.
document.querySelectorAll('input.select-all').forEach((all) => {
  const boxes = () => all.form.querySelectorAll('input[name="selected"]');
  all.addEventListener('change', () => boxes().forEach((box) => { box.checked = all.checked; }));
});
