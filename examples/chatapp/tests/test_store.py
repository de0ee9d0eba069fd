"""chatapp's own unit test of its store, on a real server memfix starts."""

from chatapp.store import ChatMemory, ChatMessage


def test_append_then_history(memfix_server):
    memory = ChatMemory(memfix_server.client)
    memory.append("carol", ChatMessage(role="user", content="hi", timestamp=1.0))
    assert memory.history("carol") == [ChatMessage(role="user", content="hi", timestamp=1.0)]
    assert memory.users() == ["carol"]
