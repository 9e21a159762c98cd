// Published microsites: the only script a page loads (CSP: our own files only).
// - a video starts its player (an iframe of the video site) only when the visitor asks;
// - "Copy password" copies the Wi-Fi password.
document.addEventListener("click", function (event) {
  var start = event.target.closest(".ms-video-start");
  if (start && start.dataset.player) {
    event.preventDefault();
    var frame = document.createElement("iframe");
    frame.src = start.dataset.player;
    frame.title = start.dataset.title || "Video";
    frame.allow = "autoplay; fullscreen; picture-in-picture; encrypted-media";
    frame.setAttribute("allowfullscreen", "");
    start.replaceWith(frame);
    frame.focus();
    return;
  }
  var copy = event.target.closest(".ms-copy");
  if (copy) {
    var source = document.getElementById(copy.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(function () {
        var label = copy.querySelector("span");
        if (label) { label.textContent = "Copied"; }
      });
    }
  }
});
