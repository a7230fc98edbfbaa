// The recovery-code page's buttons: copy the codes to the clipboard, print them.
document.addEventListener("DOMContentLoaded", function () {
  var copy = document.getElementById("copy");
  var print = document.getElementById("print");
  var text = document.getElementById("codes-text");
  if (copy && text) {
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(text.textContent).then(function () {
        copy.textContent = "Copied";
      });
    });
  }
  if (print) {
    print.addEventListener("click", function () {
      window.print();
    });
  }
});
