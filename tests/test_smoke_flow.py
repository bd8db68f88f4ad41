from idp.config import Config


def test_code_flow_end_to_end_in_process(hub):
    client_id, secret = hub.add_client()
    hub.add_user(full_name="Nguyễn Văn A", email="a@example.vn")
    code = hub.code_for(client_id)
    response = hub.token({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": "https://rp.example/cb"}, auth=(client_id, secret))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["id_token"] and body["refresh_token"]
    info = hub.web.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.get_data(as_text=True)
    assert info.get_json()["name"] == "Nguyễn Văn A"
