BMXQ 1
I 8DwzkEXaN00005GtHwJv
T 1700000000
S =
N 2
E =id%201%25%0D%0A
F 1 1
H =client.test
C =127.0.0.1
D =localhost
R 0 =r1@example.test -
R 14 =u%C3%A9@d.test =rfc822;u@d.test
R 1 =r3@example.test =
M 00000000000000000000
Z 14 0 1f3c2120
