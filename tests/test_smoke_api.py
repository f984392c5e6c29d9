def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    # Liechtenstein's 11 municipalities and the 2 townships of the Ninghua seat
    assert response.json()["overlay"]["layers"]["enforcement"] == 11 + 2
