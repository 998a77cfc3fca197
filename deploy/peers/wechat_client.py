#!/usr/bin/env python3
"""WeChat's servers, played by the PyPI `wechatpy` package's own crypto, against our
official-account endpoint (services/intake/src/wechat):

  1. URL verification (GET with signature, timestamp, nonce, echostr): the echostr comes back;
     a forged signature is refused,
  2. a text message in safe mode, encrypted as WeChat does (WeChatCrypto.encrypt_message),
     sent three times with the same MsgId at once (WeChat's retries): every passive reply
     decrypts and verifies with wechatpy (decrypt_message checks MsgSignature and the AppId),
     parses with wechatpy.parse_message, and names the same ticket number,
  3. `查询 <number>` answers that ticket's progress,
  4. a stale timestamp is refused.

Environment: WECHAT_URL (http://127.0.0.1:8083/wechat); the demo account's token, AppID and
EncodingAESKey unless WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_AES_KEY are set.
"""

import concurrent.futures
import hashlib
import os
import random
import re
import sys
import time
import xml.etree.ElementTree as ET

import requests
import wechatpy
from wechatpy.crypto import WeChatCrypto

URL = os.environ.get("WECHAT_URL", "http://127.0.0.1:8083/wechat")
TOKEN = os.environ.get("WECHAT_TOKEN", "demo-wechat-token")
APP_ID = os.environ.get("WECHAT_APP_ID", "wx5f6e7d8c9b0a1234")
AES_KEY = os.environ.get("WECHAT_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
OPENID = "oPeerFollower" + str(random.randint(10**8, 10**9))
ACCOUNT = "gh_hotline_peer"


def fail(message):
    print(f"wechat peer: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def sign(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_message(msg_id, content):
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def post_safe(crypto, message, timestamp=None):
    """POSTs `message` as WeChat does in safe mode; answers (status, decrypted reply or text)."""
    timestamp = str(timestamp or int(time.time()))
    nonce = str(random.randint(10**8, 10**9))
    # wechatpy builds the envelope WeChat would; its Encrypt and MsgSignature are what we POST.
    envelope = ET.fromstring(crypto.encrypt_message(message, nonce, timestamp))
    encrypt = envelope.find("Encrypt").text
    msg_signature = envelope.find("MsgSignature").text
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    response = requests.post(
        URL,
        params={
            "signature": sign(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": OPENID,
            "encrypt_type": "aes",
            "msg_signature": msg_signature,
        },
        data=body.encode(),
        headers={"Content-Type": "text/xml"},
        timeout=10,
    )
    if response.status_code != 200 or response.text == "success":
        return response.status_code, response.text
    reply = ET.fromstring(response.text)
    plain = crypto.decrypt_message(
        response.text,
        reply.find("MsgSignature").text,
        reply.find("TimeStamp").text,
        reply.find("Nonce").text,
    )
    return response.status_code, plain


def content_of(plain):
    message = wechatpy.parse_message(plain)
    if message.type != "text" or message.source != ACCOUNT or message.target != OPENID:
        fail(f"reply is not a text from {ACCOUNT} to the follower: {plain}")
    return message.content


def ticket_in(text):
    found = re.search(r"\b(\d{16})\b", text)
    if not found:
        fail(f"no ticket number in {text!r}")
    return found.group(1)


def main():
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    timestamp, nonce = str(int(time.time())), "nonce1"
    echo = requests.get(
        URL,
        params={"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp,
                "nonce": nonce, "echostr": "peer-echo-42"},
        timeout=10,
    )
    if echo.status_code != 200 or echo.text != "peer-echo-42":
        fail(f"URL verification: {echo.status_code} {echo.text!r}")
    forged = requests.get(
        URL,
        params={"signature": "0" * 40, "timestamp": timestamp, "nonce": nonce, "echostr": "x"},
        timeout=10,
    )
    if forged.status_code == 200:
        fail("a forged signature was accepted")

    msg_id = str(random.randint(10**15, 10**16 - 1))
    message = text_message(msg_id, "海珠区江南大道中88号附近下水道堵塞，污水外溢")
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda _: post_safe(crypto, message), range(3)))
    numbers = set()
    for status, plain in replies:
        if status != 200:
            fail(f"message: {status} {plain!r}")
        numbers.add(ticket_in(content_of(plain)))
    if len(numbers) != 1:
        fail(f"three deliveries of one MsgId gave tickets {numbers}")
    number = numbers.pop()

    status, plain = post_safe(crypto, text_message(str(random.randint(10**15, 10**16 - 1)), f"查询 {number}"))
    progress = content_of(plain) if status == 200 else ""
    if number not in progress or "办理中" not in progress:
        fail(f"progress query: {status} {progress!r}")

    status, text = post_safe(crypto, text_message("1", "旧消息"), timestamp=int(time.time()) - 3600)
    if status != 403:
        fail(f"a stale timestamp got {status} {text!r}")
    print(f"wechat peer: ok (ticket {number}, one for three deliveries; progress; stale refused)")


if __name__ == "__main__":
    main()
