"""Issue 21, finding 1 (critical): no websocket frame freezes the server.

Replayed on a real Voilà server with a gaveur's cookie: (a) the kernel websocket without the v1 subprotocol
then ``comm_open`` + ``request_states`` (Voilà misreads the legacy binary reply: a list of ~8.6e17 items on the
event loop), (b) with v1, one frame whose offset count says 2^62 (jupyter_server's ``deserialize_msg_from_ws_v1``).
After each, ``/login`` must answer within 2 s and the server's memory stay put. A fuzz test sends malformed
frames of every kind on several connections while a control user keeps loading a page in Chromium. The frame
checks themselves (:mod:`euralis_lib.serving.kernel_ws`) are also tested directly.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import websocket
from jupyter_server.services.kernels.connection.base import serialize_binary_message, serialize_msg_to_ws_v1

from euralis_lib.serving import kernel_ws
from tests.helpers.security import (
    Navigateur,
    Serveur,
    attendre_reponse,
    charger,
    connecte,
    lire_v1,
    message_v1,
    page_connectee,
)

pytestmark = pytest.mark.browser
# Growth of the server process's memory that an attack may cause (the frozen server grew by gigabytes).
RSS_MAX = 300 * 1024 * 1024
CONTROLE = {"version": "1.0.0"}  # ipywidgets' widget control protocol
# Tornado answers a frame over the limit with close code 1009 and drops the connection at once: a client still
# sending may lose that close frame (connection reset). Either way the server logs the refusal.
TROP_GRANDE = {kernel_ws.MESSAGE_TOO_BIG, None}


@pytest.fixture(scope="module")
def serveur(base_securite, tmp_path_factory) -> Iterator[Serveur]:
    """Accueil (the attacked and control page) and Import (large upload frames), one preheated kernel each."""
    with Serveur(tmp_path_factory.mktemp("websocket"), base_securite["url"], ("accueil", "import"),
                 env={"EURALIS_POOLS": "accueil=1,import=1"}) as srv:
        yield srv


def _trame_comm(comm_id: str, data: dict, buffers: tuple[bytes, ...] = ()) -> bytes:
    return message_v1("comm_msg", {"comm_id": comm_id, "data": data}, buffers=buffers)


def _legacy(msg_type: str, content: dict, metadata: dict | None = None) -> str:
    """A message in the legacy JSON protocol (no subprotocol)."""
    return json.dumps({"channel": "shell", "header": {"msg_id": uuid.uuid4().hex, "username": "",
                                                      "session": uuid.uuid4().hex, "msg_type": msg_type,
                                                      "version": "5.3", "date": ""},
                       "parent_header": {}, "metadata": metadata or {}, "content": content, "buffers": []})


def _fermeture(ws: websocket.WebSocket, timeout: float = 30) -> int | None:
    """The close code the server sends on ``ws`` (None if it just drops the connection)."""
    ws.settimeout(timeout)
    limite = time.monotonic() + timeout
    try:
        while time.monotonic() < limite:
            opcode, trame = ws.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(trame.data[:2], "big") if len(trame.data) >= 2 else None
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return None
    raise AssertionError("the server did not close the connection")


def _surveiller(serveur: Serveur, duree: float) -> list[float]:
    """``/login`` answer times over ``duree`` seconds (each must come within 2 s)."""
    temps, limite = [], time.monotonic() + duree
    while time.monotonic() < limite:
        temps.append(serveur.repond(2.0))
        time.sleep(0.2)
    return temps


def _malformees(rng: random.Random) -> list[tuple[str, bytes | str]]:
    """Malformed frames of every kind, (kind, frame); bytes are binary frames, str text frames."""
    valide = message_v1("kernel_info_request", {})
    n = int.from_bytes(valide[:8], "little")
    table = [int.from_bytes(valide[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]

    def avec_offsets(offsets: list[int]) -> bytes:
        return b"".join([n.to_bytes(8, "little"), *(o.to_bytes(8, "little") for o in offsets), valide[table[0]:]])

    trames: list[tuple[str, bytes | str]] = [
        ("empty binary", b""), ("empty text", ""), ("short", b"\x01\x02\x03"),
        ("count 2^62", (1 << 62).to_bytes(8, "little") + bytes(64)),
        ("count 2^64-1", b"\xff" * 8 + bytes(64)),
        ("count past the frame", (1000).to_bytes(8, "little") + bytes(80)),
        ("offset past the end", avec_offsets([*table[:-1], table[-1] + 10_000])),
        ("decreasing offsets", avec_offsets([table[0], table[2], table[1], *table[3:]])),
        ("first offset inside the table", avec_offsets([8, *table[1:]])),
        ("unknown channel", serialize_msg_to_ws_v1([json.dumps({"msg_type": "x"}).encode(), b"{}", b"{}", b"{}"],
                                                   "iopub")),
        ("header not JSON", serialize_msg_to_ws_v1([b"\xff\xfe", b"{}", b"{}", b"{}"], "shell")),
        ("header without msg_type", serialize_msg_to_ws_v1([b"{}", b"{}", b"{}", b"{}"], "shell")),
        ("too few parts", serialize_msg_to_ws_v1([b"{}", b"{}"], "shell")),
        ("too many buffers", message_v1("comm_msg", {}, buffers=tuple(b"x" for _ in range(200)))),
        ("legacy binary format", serialize_binary_message({"header": {"msg_type": "comm_msg"}, "parent_header": {},
                                                           "metadata": {}, "content": {}, "buffers": [b"abc"]})),
        ("legacy JSON as text", _legacy("comm_open", {"comm_id": "x", "target_name": "jupyter.widget.control"})),
        ("random text", "".join(rng.choice("{}[]\":,abc0123 ") for _ in range(300))),
    ]
    trames += [(f"random bytes {i}", rng.randbytes(rng.choice([9, 17, 64, 500, 4096]))) for i in range(8)]
    return trames


def test_frame_checks_accept_the_pages_frames_and_refuse_every_malformed_kind():
    rng = random.Random(21)
    for trame in (message_v1("kernel_info_request", {}), _trame_comm("c", {"method": "update"}, (b"\x00" * 10,))):
        canal, header, parties = kernel_ws.parse_frame(trame)
        assert canal == "shell" and header["msg_type"] in {"kernel_info_request", "comm_msg"} and len(parties) >= 4
    for nature, trame in _malformees(rng):
        if isinstance(trame, bytes):
            debut = time.monotonic()
            with pytest.raises(kernel_ws.FrameError):
                kernel_ws.parse_frame(trame)
            assert time.monotonic() - debut < 0.5, nature  # no list of 2^62 items


def test_outgoing_frames_lose_tracebacks_and_stderr_but_keep_the_rest():
    def sortant(msg_type: str, content: dict) -> bytes:
        return message_v1(msg_type, content, channel="iopub")

    erreur = sortant("error", {"ename": "RuntimeError", "evalue": "/srv/euralis/secret.py",
                               "traceback": ["Traceback (most recent call last)", "/srv/euralis/secret.py"]})
    nettoyee = kernel_ws.scrub_outgoing(erreur)
    assert b"/srv/euralis" not in nettoyee and b"Traceback" not in nettoyee
    canal, header, content = lire_v1(nettoyee)
    assert canal == "iopub" and header["msg_type"] == "error" and content["evalue"] == kernel_ws.ERROR_TEXT
    assert kernel_ws.scrub_outgoing(sortant("stream", {"name": "stderr", "text": "Traceback /srv"})) is None
    assert kernel_ws.scrub_outgoing(sortant("execute_input", {"code": "x"})) is None
    sortie = sortant("stream", {"name": "stdout", "text": "bonjour"})
    etat = message_v1("comm_msg", {"comm_id": "c", "data": {}}, channel="iopub", buffers=(b"\x01" * 100,))
    assert kernel_ws.scrub_outgoing(sortie) == sortie and kernel_ws.scrub_outgoing(etat) == etat


def test_the_legacy_protocol_is_refused_and_the_widget_state_attack_freezes_nothing(serveur, base_securite):
    """Attack (a): no v1 subprotocol, then comm_open + request_states."""
    attaquant = connecte(serveur, base_securite, "g1")
    noyau = attaquant.ouvrir_page("accueil")
    avant = serveur.rss()
    refus = None
    try:
        ws = attaquant.canal(noyau, protocole=None)
    except websocket.WebSocketBadStatusException as exc:
        refus = exc.status_code
    else:
        comm = uuid.uuid4().hex
        ws.send(_legacy("comm_open", {"comm_id": comm, "target_name": "jupyter.widget.control", "data": {}},
                        CONTROLE))
        ws.send(_legacy("comm_msg", {"comm_id": comm, "data": {"method": "request_states"}}))
    _surveiller(serveur, 8)
    assert serveur.rss() - avant < RSS_MAX
    assert refus == 400, "the kernel websocket accepted a connection without the v1 subprotocol"
    assert "subprotocol v1.kernel.websocket.jupyter.org required" in serveur.journal_texte()
    # Control: the same requests with v1 get the widgets' states, and the server stays responsive.
    ws = attaquant.canal(noyau)
    try:
        comm = uuid.uuid4().hex
        ws.send_binary(message_v1("comm_open", {"comm_id": comm, "target_name": "jupyter.widget.control",
                                                "data": {}}, metadata=CONTROLE))
        ws.send_binary(_trame_comm(comm, {"method": "request_states"}))
        reponse = attendre_reponse(ws, "comm_msg", condition=lambda c: c["data"].get("method") == "update_states")
        assert reponse["data"]["states"]
    finally:
        ws.close()
    assert serveur.repond(2.0) < 2.0


def test_a_frame_with_a_huge_offset_count_closes_the_connection_and_freezes_nothing(serveur, base_securite):
    """Attack (b): with v1, one frame whose first 8 bytes say 2^62."""
    attaquant = connecte(serveur, base_securite, "g2")
    noyau = attaquant.ouvrir_page("accueil")
    avant = serveur.rss()
    ws = attaquant.canal(noyau)
    ws.send_binary((1 << 62).to_bytes(8, "little") + bytes(64))
    _surveiller(serveur, 8)
    assert serveur.rss() - avant < RSS_MAX
    assert _fermeture(ws) == kernel_ws.POLICY_VIOLATION
    assert f"frame refused (user g2 from 127.0.0.1, kernel {noyau}): offset count" in serveur.journal_texte()
    # Control: a well-formed frame on a new connection is answered.
    ws = attaquant.canal(noyau)
    try:
        ws.send_binary(message_v1("kernel_info_request", {}))
        assert attendre_reponse(ws, "kernel_info_reply")["status"] == "ok"
    finally:
        ws.close()


def test_large_frames_are_accepted_on_the_import_page_only(serveur, base_securite):
    """File uploads (FileUpload widget) travel in one frame: up to ~100 MB on Import, 10 MB elsewhere."""
    admin = connecte(serveur, base_securite, "adm")
    envoi = _trame_comm(uuid.uuid4().hex, {"method": "update", "state": {}, "buffer_paths": [["value"]]},
                        (bytes(20 * 1024 * 1024),))
    import_ = admin.ouvrir_page("import")
    ws = admin.canal(import_, timeout=60)
    try:
        ws.send_binary(envoi)
        ws.send_binary(message_v1("kernel_info_request", {}))
        assert attendre_reponse(ws, "kernel_info_reply")["status"] == "ok"  # still connected after 20 MB
    finally:
        ws.close()
    accueil = admin.ouvrir_page("accueil")
    ws = admin.canal(accueil, timeout=60)
    _envoyer(ws, envoi)
    assert _fermeture(ws) in TROP_GRANDE
    assert f"kernel {accueil}): over {kernel_ws.MAX_FRAME} bytes" in serveur.journal_texte()


def _envoyer(ws: websocket.WebSocket, trame: bytes | str) -> None:
    """Send a frame; the server may close while a large one is still being sent (its close code follows)."""
    try:
        if isinstance(trame, bytes):
            ws.send_binary(trame)
        else:
            ws.send(trame)
    except (ConnectionError, websocket.WebSocketConnectionClosedException):
        pass


def _attaquer(serveur: Serveur, attaquant: Navigateur, noyau: str, trames: list, erreurs: list) -> None:
    """Send each frame on a fresh v1 connection (a refused frame closes it) and wait for the close."""
    for nature, trame in trames:
        try:
            ws = attaquant.canal(noyau)
            _envoyer(ws, trame)
            code = _fermeture(ws)
            if code not in (TROP_GRANDE if nature == "oversize" else {kernel_ws.POLICY_VIOLATION}):
                erreurs.append(f"{nature}: closed with {code}")
        except Exception as exc:  # noqa: BLE001 — reported by the test
            erreurs.append(f"{nature}: {exc!r}")


def test_fuzzed_frames_on_several_connections_leave_a_control_user_served(serveur, base_securite, browser):
    attaquant = connecte(serveur, base_securite, "g1")
    noyau = attaquant.ouvrir_page("accueil")
    rng = random.Random(2112)
    trames = _malformees(rng) + [("oversize", bytes(kernel_ws.MAX_FRAME + 1))]
    lots = [trames[i::3] for i in range(3)]
    avant, journal_avant = serveur.rss(), len(serveur.journal_texte())
    contexte, page = page_connectee(browser, serveur, base_securite, "sup")
    erreurs: list[str] = []
    attaques = [threading.Thread(target=_attaquer, args=(serveur, attaquant, noyau, lot, erreurs)) for lot in lots]
    durees, temps_login = [], []
    try:
        for fil in attaques:
            fil.start()
        while any(fil.is_alive() for fil in attaques) or len(durees) < 3:
            debut = time.monotonic()
            charger(page, serveur, "accueil.ipynb")
            durees.append(time.monotonic() - debut)
            temps_login.append(serveur.repond(2.0))
    finally:
        for fil in attaques:
            fil.join(timeout=300)
        contexte.close()
    assert not erreurs, erreurs
    assert max(durees) < 90, f"control page loads under attack: {durees}"
    assert max(temps_login) < 2.0
    assert serveur.rss() - avant < RSS_MAX
    journal = serveur.journal_texte()[journal_avant:]
    refus = journal.count("Kernel websocket frame refused (user g1")
    assert refus == len(trames), f"{refus} refusals logged for {len(trames)} malformed frames"
    print(f"control page loads under attack (s): {[round(d, 1) for d in durees]}")
