def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["overlay"]["layers"]["enforcement"] == 11
