"""Followers' e-mails: a new show, a reminder before it starts and live now, each sent once per follower and
show (by Celery, after commit), with a one-click unsubscribe link that works."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.services import follow_create
from accounts.tests.factories import UserFactory
from livestream_site.celery import app as celery_app
from streams import notifications, services
from streams.models import FollowerNotification
from streams.tasks import stream_followers_notify_task, stream_reminders_send_task
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_celery():
    """Tasks in-process (with REDIS_URL set they would wait in the queue for a worker)."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def fans(artist):
    """Two followers who want e-mails, one who turned them off, one without an address, and a stranger."""
    wanting = [UserFactory(), UserFactory()]
    muted, no_address = UserFactory(follow_emails=False), UserFactory(email="")
    for fan in [*wanting, muted, no_address]:
        follow_create(fan=fan, artist_id=artist.id)
    UserFactory()
    return wanting


def _to(messages) -> list[str]:
    return sorted(address for message in messages for address in message.to)


def test_a_new_show_reaches_each_follower_once(artist, fans, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://live.example"
    with django_capture_on_commit_callbacks(execute=True):
        stream = stream_factory(artist=artist, title="Big <Night> & more")
        assert mail.outbox == []  # not before the commit
    assert _to(mail.outbox) == sorted(fan.email for fan in fans)
    message = mail.outbox[0]
    assert message.subject == f"New show by {artist.username}: Big <Night> & more"  # plain text, not HTML-escaped
    assert f"https://live.example/streams/{stream.id}/" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://live.example/accounts/unsubscribe/")
    # Running the task again (a redelivery) sends nothing twice.
    assert stream_followers_notify_task.delay(str(stream.id), "scheduled").get() == 0
    assert len(mail.outbox) == 2
    assert FollowerNotification.objects.filter(stream=stream, kind="scheduled").count() == 2


def test_a_reminder_once_before_the_start(artist, fans, settings):
    settings.FOLLOWER_REMINDER_MINUTES = 30
    soon = stream_factory(artist=artist, title="Soon", scheduled_start_time=timezone.now() + timedelta(minutes=20))
    stream_factory(artist=artist, title="Later", scheduled_start_time=timezone.now() + timedelta(hours=3))
    cancelled = stream_factory(
        artist=artist, title="Off", status="cancelled", scheduled_start_time=timezone.now() + timedelta(minutes=5)
    )
    assert stream_reminders_send_task.delay().get() == 1
    assert _to(mail.outbox) == sorted(fan.email for fan in fans)
    assert all("Starting soon: Soon" in m.subject for m in mail.outbox)
    stream_reminders_send_task.delay().get()  # the next minute's run
    assert len(mail.outbox) == 2
    assert not FollowerNotification.objects.filter(stream=cancelled).exists()
    assert FollowerNotification.objects.get(stream=soon, user=fans[0]).kind == "reminder"


def test_live_now_once_when_the_show_goes_live(artist, fans, django_capture_on_commit_callbacks):
    stream = stream_factory(artist=artist, title="Tonight")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.stream_start(stream_id=stream.id)
    assert _to(mail.outbox) == sorted(fan.email for fan in fans)
    assert all(m.subject == f"{artist.username} is live now: Tonight" for m in mail.outbox)
    notifications.stream_followers_notify(stream_id=stream.id, kind="live")
    assert len(mail.outbox) == 2
    # Once the show ended, a late "live now" is not sent to a new follower.
    late = UserFactory()
    follow_create(fan=late, artist_id=artist.id)
    services.stream_end(stream_id=stream.id)
    assert notifications.stream_followers_notify(stream_id=stream.id, kind="live") == 0


def test_a_failed_e_mail_is_sent_by_the_retry_and_the_others_not_again(artist, fans, monkeypatch):
    stream = stream_factory(artist=artist)
    real_send, calls = notifications.EmailMultiAlternatives.send, []

    def flaky(message, *args, **kwargs):
        calls.append(message.to)
        if len(calls) == 1:
            raise ConnectionRefusedError("mail server down")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(notifications.EmailMultiAlternatives, "send", flaky)
    with pytest.raises(ConnectionRefusedError):
        notifications.stream_followers_notify(stream_id=stream.id, kind="scheduled")
    assert len(mail.outbox) == 1
    assert notifications.stream_followers_notify(stream_id=stream.id, kind="scheduled") == 1
    assert _to(mail.outbox) == sorted(fan.email for fan in fans)


def test_the_unsubscribe_link_turns_the_e_mails_off(artist, fans, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        stream_factory(artist=artist)
    fan = fans[0]
    message = next(m for m in mail.outbox if m.to == [fan.email])
    path = re.search(r"https?://[^/\s]+(/accounts/unsubscribe/\S+/)", message.body)[1]
    page = client.get(path)
    assert page.status_code == 200 and 'data-testid="unsubscribe"' in page.content.decode()
    fan.refresh_from_db()
    assert fan.follow_emails is True  # a GET (a link scanner) changes nothing
    assert client.post(path).status_code == 200  # one click, as mail clients POST it (no CSRF token)
    fan.refresh_from_db()
    assert fan.follow_emails is False
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        stream_factory(artist=artist)
    assert _to(mail.outbox) == [fans[1].email]


def test_a_forged_unsubscribe_link_is_refused(client, fans):
    response = client.post(f"/accounts/unsubscribe/{fans[0].id}:forged/")
    assert response.status_code == 400 and "not valid" in response.content.decode()
    fans[0].refresh_from_db()
    assert fans[0].follow_emails is True
