module keyhold.test/go_kes_client

go 1.19
