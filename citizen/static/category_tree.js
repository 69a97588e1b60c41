// A ticked class of the checkbox tree stands for all its categories: they show ticked and are not sent on their
// own (disabled), so that a campaign holds the class's key alone.
document.querySelectorAll('.category-tree[data-multiple="true"]').forEach((tree) => {
  const follow = (classBox) => {
    tree.querySelectorAll(`input[data-in-class="${classBox.dataset.classKey}"]`).forEach((box) => {
      if (classBox.checked) box.checked = true;
      box.disabled = classBox.checked;
    });
  };
  tree.querySelectorAll('input[data-class-key]').forEach((classBox) => {
    follow(classBox);
    classBox.addEventListener('change', () => follow(classBox));
  });
});
