"""The Tkinter lock screen and session bar (Tk in the main thread only).

Why Tkinter: it ships with Python on Windows and with every Linux distribution
(``python3-tk``), needs nothing else, and a lock window costs about 25 MB of memory.

The lock screen is an ``overrideredirect`` window the size of the screen, always on top,
holding a global grab. Every 400 ms while locked it lifts itself, takes the focus back
and grabs again (a grab can fail while another program holds one: it is retried).
Alt+F4, Escape and the window manager's close request do nothing. In session the lock
screen is withdrawn and a small always-on-top bar shows the time left and the balance,
with "Redeem a code" and "Log out".

What to show comes from :class:`ficha_agent.machine.Machine`; the network is in
:class:`ficha_agent.net.Bridge`'s thread, read through its queue every 100 ms.
"""

from __future__ import annotations

import queue
import tkinter as tk

from . import i18n
from .i18n import N_, _
from .machine import BLOCKED, LOGIN, PAUSED, SESSION, Machine, clock_text, money_text

BG, FG, ACCENT, ERROR, WARN = "#1d2430", "#f3f4f6", "#3b82f6", "#fca5a5", "#f59e0b"
SWALLOWED = (
    "<Alt-F4>",
    "<Escape>",
    "<Alt-Tab>",
    "<Control-w>",
    "<Control-q>",
    "<Control-Escape>",
    "<Super_L>",
    "<Super_R>",
)


class App:
    def __init__(self, bridge, *, debug_exit: bool = False, language: str = ""):
        self.bridge = bridge
        self.link = bridge.link
        self.machine = Machine(self.link)
        self.debug_exit = debug_exit
        i18n.activate(language or None)
        self._texts: list[tuple[tk.Widget, str]] = []
        self._venue_language = ""
        self.root = tk.Tk(className="FichaAgent")
        self.root.title("Ficha")
        self._build_lock()
        self._build_bar()
        self.show(LOGIN)
        self.notice(_("Connecting to the server…"), error=False)
        self.root.after(100, self._poll)
        self.root.after(250, self._step)
        self.root.after(400, self._reassert)

    # --- building ---------------------------------------------------------------------
    def _t(self, widget: tk.Widget, msgid: str) -> tk.Widget:
        self._texts.append((widget, msgid))
        widget.configure(text=_(msgid))
        return widget

    def _swallow(self, widget: tk.Misc) -> None:
        for seq in SWALLOWED:
            widget.bind_all(seq, lambda _e: "break")
        widget.protocol("WM_DELETE_WINDOW", lambda: None)

    def _build_lock(self) -> None:
        root = self.root
        w, h = root.winfo_screenwidth(), root.winfo_screenheight()
        root.configure(bg=BG, cursor="arrow")
        root.overrideredirect(True)
        root.geometry(f"{w}x{h}+0+0")
        root.attributes("-topmost", True)
        self._swallow(root)
        if self.debug_exit:
            root.bind_all("<Control-Shift-F12>", lambda _e: self.quit())
        root.bind("<FocusOut>", lambda _e: root.after(50, self._reassert_once))
        root.bind("<Unmap>", lambda _e: root.after(50, self._reassert_once))
        box = tk.Frame(root, bg=BG)
        box.place(relx=0.5, rely=0.45, anchor="center")
        big, mid = ("Helvetica", 30, "bold"), ("Helvetica", 14)
        self.title = tk.Label(box, text="Ficha", font=big, fg=FG, bg=BG)
        self.title.pack(pady=(0, 6))
        self.subtitle = self._t(
            tk.Label(box, font=("Helvetica", 18), fg=FG, bg=BG), N_("This computer is locked")
        )
        self.subtitle.pack()
        self.hint = self._t(
            tk.Label(box, font=mid, fg="#9ca3af", bg=BG),
            N_("Log in with your account or a recharge code"),
        )
        self.hint.pack(pady=(4, 14))
        self.form = tk.Frame(box, bg=BG)
        self.form.pack()
        opts = {"font": mid, "fg": FG, "bg": BG, "anchor": "w"}
        self._t(tk.Label(self.form, **opts), N_("Username")).grid(row=0, column=0, sticky="w")
        self.username = tk.Entry(self.form, font=mid, width=24)
        self.username.grid(row=0, column=1, pady=4, padx=8)
        self._t(tk.Label(self.form, **opts), N_("Password or PIN")).grid(
            row=1, column=0, sticky="w"
        )
        self.password = tk.Entry(self.form, font=mid, width=24, show="•")
        self.password.grid(row=1, column=1, pady=4, padx=8)
        self.login_button = self._t(
            tk.Button(self.form, font=mid, command=self.login), N_("Log in")
        )
        self.login_button.grid(row=2, column=1, sticky="e", padx=8, pady=(4, 12))
        self._t(tk.Label(self.form, font=mid, fg="#9ca3af", bg=BG), N_("or")).grid(
            row=3, column=0, columnspan=2
        )
        self._t(tk.Label(self.form, **opts), N_("Recharge code")).grid(row=4, column=0, sticky="w")
        self.code = tk.Entry(self.form, font=mid, width=24)
        self.code.grid(row=4, column=1, pady=4, padx=8)
        self._t(
            tk.Button(self.form, font=mid, command=self.redeem_at_lock), N_("Use the code")
        ).grid(row=5, column=1, sticky="e", padx=8, pady=4)
        self.username.bind("<Return>", lambda _e: (self.password.focus_set(), "break")[1])
        self.password.bind("<Return>", lambda _e: (self.login(), "break")[1])
        self.code.bind("<Return>", lambda _e: (self.redeem_at_lock(), "break")[1])
        self.message = tk.Label(box, font=mid, fg=ERROR, bg=BG, wraplength=600)
        self.message.pack(pady=(14, 0))
        self._focus = self.username

    def _build_bar(self) -> None:
        bar = self.bar = tk.Toplevel(self.root, bg=BG, bd=1, relief="solid")
        bar.withdraw()
        bar.overrideredirect(True)
        bar.attributes("-topmost", True)
        bar.protocol("WM_DELETE_WINDOW", lambda: None)
        font, big = ("Helvetica", 11), ("Helvetica", 20, "bold")
        top = tk.Frame(bar, bg=BG)
        top.pack(fill="x", padx=10, pady=(6, 0))
        self._t(tk.Label(top, font=font, fg="#9ca3af", bg=BG), N_("Time remaining")).pack(
            side="left"
        )
        self.clock = tk.Label(bar, font=big, fg=FG, bg=BG)
        self.clock.pack(padx=10, anchor="w")
        row = tk.Frame(bar, bg=BG)
        row.pack(fill="x", padx=10)
        self._t(tk.Label(row, font=font, fg="#9ca3af", bg=BG), N_("Balance")).pack(side="left")
        self.balance = tk.Label(row, font=font, fg=FG, bg=BG)
        self.balance.pack(side="left", padx=6)
        self.warning = tk.Label(bar, font=("Helvetica", 11, "bold"), fg=BG, bg=BG)
        self.warning.pack(fill="x", padx=10)
        buttons = tk.Frame(bar, bg=BG)
        buttons.pack(fill="x", padx=10, pady=6)
        self._t(tk.Button(buttons, font=font, command=self.open_redeem), N_("Redeem a code")).pack(
            side="left"
        )
        self._t(tk.Button(buttons, font=font, command=self.logout), N_("Log out")).pack(
            side="right"
        )
        self.redeem_box = tk.Frame(bar, bg=BG)
        self.bar_code = tk.Entry(self.redeem_box, font=font, width=16)
        self.bar_code.pack(side="left")
        self.bar_code.bind("<Return>", lambda _e: (self.redeem_in_session(), "break")[1])
        self._t(
            tk.Button(self.redeem_box, font=font, command=self.redeem_in_session), N_("OK")
        ).pack(side="left", padx=4)
        self._t(
            tk.Button(self.redeem_box, font=font, command=self.close_redeem), N_("Cancel")
        ).pack(side="left")
        self.bar_message = tk.Label(bar, font=("Helvetica", 12), fg=ERROR, bg=BG, wraplength=260)
        self.bar_message.pack(fill="x", padx=10, pady=(0, 6))

    def relabel(self) -> None:
        for widget, msgid in self._texts:
            widget.configure(text=_(msgid))

    # --- screens ------------------------------------------------------------------------
    def show(self, screen: str) -> None:
        self.screen = screen
        if screen == SESSION:
            self.root.grab_release()
            self.root.withdraw()
            self.message.configure(text="")
            self.bar_say("")
            self.warning.configure(text="", bg=BG)
            self.close_redeem()
            self.bar.deiconify()
            self._place_bar()
            return
        self.bar.withdraw()
        self.root.deiconify()
        if screen == LOGIN:
            self.form.pack(after=self.hint)
            self.hint.configure(text=_("Log in with your account or a recharge code"))
        else:
            self.form.pack_forget()
            self.hint.configure(
                text=_("Paused: ask at the counter.")
                if screen == PAUSED
                else _("Locked by the staff.")
            )
        self._reassert_once()

    def _place_bar(self) -> None:
        self.bar.update_idletasks()
        w = max(self.bar.winfo_reqwidth(), 280)
        h = self.bar.winfo_reqheight()
        self.bar.geometry(f"{w}x{h}+{self.root.winfo_screenwidth() - w - 12}+12")
        self.bar.lift()

    def bar_say(self, text: str, fg: str = FG) -> None:
        """A line under the bar's buttons; the bar grows to fit it."""
        if self.bar_message.cget("text") == text and self.bar_message.cget("fg") == fg:
            return
        self.bar_message.configure(text=text, fg=fg)
        if self.screen == SESSION:
            self._place_bar()

    def notice(self, text: str, error: bool = True) -> None:
        self.message.configure(text=text, fg=ERROR if error else FG)

    # --- keeping the lock -------------------------------------------------------------
    def _reassert_once(self) -> None:
        if self.screen == SESSION:
            return
        root = self.root
        root.lift()
        root.attributes("-topmost", True)
        if root.focus_get() is None:
            (self._focus if self.screen == LOGIN else root).focus_force()
        if root.grab_status() != "global":
            try:
                root.grab_set_global()
            except tk.TclError:
                pass  # another program holds a grab: next time

    def _reassert(self) -> None:
        try:
            if self.screen == SESSION:
                self.bar.lift()
                self.bar.attributes("-topmost", True)
            else:
                focus = self.root.focus_get()
                if focus in (self.username, self.password, self.code):
                    self._focus = focus
                self._reassert_once()
        finally:
            self.root.after(400, self._reassert)

    # --- actions --------------------------------------------------------------------------
    def login(self) -> None:
        user, secret = self.username.get().strip(), self.password.get()
        if not user or not secret:
            self.notice(_("Enter your username and password."))
            return
        self.notice(_("Please wait…"), error=False)
        self.bridge.submit("login", user, secret)

    def redeem_at_lock(self) -> None:
        code = self.code.get().strip()
        if not code:
            self.notice(_("Enter a recharge code."))
            return
        self.notice(_("Please wait…"), error=False)
        self.bridge.submit("redeem", code)

    def open_redeem(self) -> None:
        self.redeem_box.pack(fill="x", padx=10, pady=(0, 4), before=self.bar_message)
        self._place_bar()
        self.bar_code.focus_force()

    def close_redeem(self) -> None:
        self.bar_code.delete(0, "end")
        self.redeem_box.pack_forget()
        if self.screen == SESSION:
            self._place_bar()

    def redeem_in_session(self) -> None:
        code = self.bar_code.get().strip()
        if code:
            self.bar_say(_("Please wait…"), fg=FG)
            self.bridge.submit("redeem", code)

    def logout(self) -> None:
        self.bridge.logout()

    # --- what the link says -------------------------------------------------------------
    def _poll(self) -> None:
        try:
            while True:
                self.handle(self.bridge.inbox.get_nowait())
        except queue.Empty:
            pass
        finally:
            self.root.after(100, self._poll)

    def handle(self, message: tuple) -> None:
        what = message[0]
        if what == "online":
            self.machine.set_online(message[1])
            if message[1]:
                self._apply_venue(self.link.venue)
                self.notice("")
            elif self.screen != SESSION:
                self.notice(_("The server cannot be reached: logging in is not possible for now."))
        elif what == "state":
            self._effects(self.machine.server_warning(message[1]))
        elif what == "result":
            self._result(message[1], message[2])
        elif what == "command":
            cmd = message[1]
            if cmd.get("action") == "message" and cmd.get("text"):
                text = f"{_('Message from the staff')}: {cmd['text']}"
                if self.screen == SESSION:
                    self.bar_say(text, fg=FG)
                else:
                    self.notice(text, error=False)
        elif what == "fatal":  # revoked or unknown station: the link has stopped
            pair = _("This computer must be paired again: ask at the counter.")
            self.notice(f"{pair} ({message[1]})")

    def _apply_venue(self, venue: dict) -> None:
        if venue.get("name"):
            self.title.configure(text=venue["name"])
        lang = str(venue.get("language") or "")
        if lang and lang != self._venue_language:
            self._venue_language = lang
            i18n.activate(lang)
            self.relabel()
            self.show(self.screen)

    def _result(self, kind: str, reply: dict) -> None:
        if reply.get("ok"):
            self.username.delete(0, "end")
            self.password.delete(0, "end")
            self.code.delete(0, "end")
            self.notice("")
            if kind == "redeem" and self.screen == SESSION:
                self.close_redeem()
                self.bar_say(_("Credited."), fg=FG)
            return
        if reply.get("code") == "offline":
            text = _("The server cannot be reached: logging in is not possible for now.")
        else:
            text = str(reply.get("message") or _("Refused."))
        self.password.delete(0, "end")
        if self.screen == SESSION:
            self.bar_say(text, fg=ERROR)
        else:
            self.notice(text)

    # --- the clock ----------------------------------------------------------------------
    def _effects(self, effects: list[tuple]) -> None:
        for effect in effects:
            if effect[0] == "screen":
                self.show(effect[1])
                if effect[1] != SESSION and self.machine.time_up:
                    self.notice(_("Your time is up."))
            elif effect[0] == "warn":
                text = _("5 minutes left") if effect[1] == 5 else _("1 minute left")
                self.warning.configure(text=text, bg=WARN)
                self._place_bar()
                self.root.bell()
                self.bar.lift()

    def _step(self) -> None:
        try:
            self._effects(self.machine.step())
            view = self.machine.view()
            if view.screen == SESSION:
                self.clock.configure(
                    text=clock_text(view.remaining) if view.remaining is not None else _("No limit")
                )
                self.balance.configure(
                    text=money_text(view.balance, view.currency, self.link.venue.get("exponent"))
                )
                if not view.online:
                    self.bar_say(_("Offline: counting down on this PC"), fg=WARN)
                elif self.bar_message.cget("text") == _("Offline: counting down on this PC"):
                    self.bar_say("")
            elif view.screen in (BLOCKED, PAUSED):
                pass
        finally:
            self.root.after(250, self._step)

    # --- running ----------------------------------------------------------------------
    def run(self) -> None:
        self.root.mainloop()

    def quit(self) -> None:
        self.bridge.stop()
        self.root.destroy()
