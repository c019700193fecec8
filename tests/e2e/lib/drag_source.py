"""A tiny GTK 3 window that lets a file be dragged out of it, as from a file manager: the E2E
drop test presses the mouse on it with xdotool, drags onto the app's window and releases, so
the app receives a real X11 drag-and-drop (XDND) of a `text/uri-list`.

    /usr/bin/python3 drag_source.py PATH [X Y]

Needs Debian's python3-gi and gir1.2-gtk-3.0 (the system Python, not a venv)."""

import pathlib
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

uri = pathlib.Path(sys.argv[1]).resolve().as_uri()
x, y = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (0, 0)

window = Gtk.Window(title="jslm-drag-source")
window.set_default_size(120, 80)
window.move(x, y)
button = Gtk.Button(label="drag me")
button.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
button.drag_source_add_uri_targets()
button.connect("drag-data-get", lambda _w, _ctx, data, _info, _time: data.set_uris([uri]))
window.add(button)
window.connect("destroy", Gtk.main_quit)
window.show_all()
print("ready", flush=True)
Gtk.main()
